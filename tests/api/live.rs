//! Live auction streams: one feed per listing serves every subscriber with the database idle,
//! slow subscribers are dropped, caps answer 429 `too_many_streams`, replay stays exact, and
//! streams end where nothing can happen any more or after their time limits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::auctions::{bid, key, ready_for_auction, wait_status};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::listings::{Cast, approved, cast, in_secs};

type Event = (String, Option<String>, Value);

/// Parses complete SSE blocks off the front of `buf`.
fn parse(buf: &mut String, out: &mut Vec<Event>) {
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
            out.push((event, id, data));
        }
    }
}

/// A subscriber reading in the background: every event, the raw text, and whether the
/// stream has ended.
struct Watcher {
    events: Arc<Mutex<Vec<Event>>>,
    raw: Arc<Mutex<String>>,
    ended: Arc<AtomicBool>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Watcher {
    async fn open(app: &TestApp, path: &str, last_event_id: Option<&str>) -> Watcher {
        let mut req = app.client.get(app.url(path));
        if let Some(id) = last_event_id {
            req = req.insert_header(("last-event-id", id));
        }
        let mut resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let (events, raw, ended) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Mutex::new(String::new())),
            Arc::new(AtomicBool::new(false)),
        );
        let (e, r, d) = (events.clone(), raw.clone(), ended.clone());
        let task = actix_web::rt::spawn(async move {
            let mut buf = String::new();
            while let Some(Ok(chunk)) = resp.next().await {
                let text = String::from_utf8_lossy(&chunk).to_string();
                r.lock().unwrap().push_str(&text);
                buf.push_str(&text);
                parse(&mut buf, &mut e.lock().unwrap());
            }
            d.store(true, Ordering::SeqCst);
        });
        Watcher {
            events,
            raw,
            ended,
            task,
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn bid_seqs(&self) -> Vec<i64> {
        self.events()
            .iter()
            .filter(|e| e.0 == "bid")
            .map(|e| e.2["seq"].as_i64().unwrap())
            .collect()
    }

    fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Waits up to 10 s for `done` to hold.
    async fn until(&self, what: &str, done: impl Fn(&Watcher) -> bool) {
        for _ in 0..200 {
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what}: not within 10 s; events {:?}", self.events());
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listing whose auction is bidding (free period of 10 minutes) with two eligible bidders.
async fn bidding(app: &TestApp) -> (Cast, i64, Vec<String>) {
    let c = cast(app).await;
    let (id, b) = crate::auctions::scheduled(
        app,
        &c,
        2,
        json!({"free_bidding_seconds": 600, "countdown_seconds": 60}),
    )
    .await;
    assert_eq!(wait_status(app, id, "bidding").await["status"], "bidding");
    (c, id, b)
}

/// Feeds still running after waiting up to 5 s for none to be left.
async fn no_feeds(app: &TestApp) -> usize {
    let hub = app.state().hub.clone();
    for _ in 0..100 {
        if hub.feeds() == 0 && hub.streams() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hub.feeds()
}

fn events_path(id: i64) -> String {
    format!("/api/v1/listings/{id}/auction/events")
}

/// Places bid number `seq` (1, 2, ...) and waits until every watcher has it.
async fn bid_seen(app: &TestApp, id: i64, bidders: &[String], seq: i64, watchers: &[&Watcher]) {
    let amount = 10_000_000 + 50_000 * (seq - 1);
    let token = &bidders[(seq as usize - 1) % bidders.len()];
    let r = bid(app, id, token, &amount.to_string(), &key()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    for w in watchers {
        w.until(&format!("bid {seq}"), |w| w.bid_seqs().contains(&seq))
            .await;
    }
}

#[actix_web::test]
async fn one_feed_reads_each_bid_once_however_many_watch_and_idle_watchers_cost_no_sql() {
    // No safety re-reads during the test, and no scheduler or mail worker: every statement
    // counted comes from the requests and the feed.
    let mut app = spawn_app_with(|s| s.live.recheck_seconds = 3600).await;
    let (_, id, b) = bidding(&app).await;
    app.stop_jobs().await;
    let hub = app.state().hub.clone();
    let first = Watcher::open(&app, &events_path(id), None).await;
    first
        .until("the opening state", |w| !w.events().is_empty())
        .await;

    let before = app.statements();
    for seq in 1..=3 {
        bid_seen(&app, id, &b, seq, &[&first]).await;
    }
    let with_one = app.statements() - before;

    let mut all = vec![first];
    for _ in 0..19 {
        all.push(Watcher::open(&app, &events_path(id), None).await);
    }
    for w in &all {
        w.until("the replay", |w| w.bid_seqs() == [1, 2, 3]).await;
    }
    let looks = hub.looks();
    let idle_from = app.statements();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.statements() - idle_from,
        0,
        "twenty idle watchers cost the database nothing"
    );
    assert_eq!(hub.looks(), looks, "and no feed read");

    let before = app.statements();
    let refs: Vec<&Watcher> = all.iter().collect();
    for seq in 4..=6 {
        bid_seen(&app, id, &b, seq, &refs).await;
    }
    let with_twenty = app.statements() - before;
    // At most one more feed read (3 statements) per bid, whatever the number of watchers: on
    // PostgreSQL a bid may wake the feed twice (in the process and through NOTIFY).
    assert!(
        with_twenty <= with_one + 3 * 3,
        "3 bids cost {with_one} statements with one watcher, {with_twenty} with twenty"
    );
    assert!(hub.looks() - looks <= 6, "{} reads", hub.looks() - looks);
    assert_eq!(hub.feeds(), 1, "one feed for the listing");
    let metrics = String::from_utf8(app.get("/metrics", None).await.body).unwrap();
    for line in ["ax_live_streams 20\n", "ax_live_feeds 1\n"] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    for w in &all {
        assert_eq!(w.bid_seqs(), [1, 2, 3, 4, 5, 6], "everyone, in order");
    }
    let frames: Vec<String> = all
        .iter()
        .map(|w| {
            let raw = w.raw.lock().unwrap().clone();
            raw[raw.find("id: 4\n").unwrap()..].replace(": keep-alive\n\n", "")
        })
        .collect();
    assert!(
        frames.iter().all(|f| *f == frames[0]),
        "the same bytes for all"
    );
    drop(all);
    assert_eq!(
        no_feeds(&app).await,
        0,
        "the feed stops with its last watcher"
    );
    assert_eq!(hub.streams(), 0);
}

#[actix_web::test]
async fn a_subscriber_that_does_not_read_is_dropped_while_the_others_continue() {
    // The test profile lets a stream fall 8 updates behind.
    assert_eq!(crate::helpers::test_settings().live.subscriber_buffer, 8);
    let app = spawn_app().await;
    let (_, id, b) = bidding(&app).await;
    let fast = Watcher::open(&app, &events_path(id), None).await;
    fast.until("the opening state", |w| !w.events().is_empty())
        .await;
    // A stalled client: its stream exists and is never read while the bids come.
    let state = app.state();
    let viewer = asset_exchange::exchange::listings::Viewer::Public;
    let mut stalled = Box::pin(
        asset_exchange::api::live::open(&state, id, viewer, None, 0)
            .await
            .unwrap(),
    );
    for seq in 1..=12 {
        bid_seen(&app, id, &b, seq, &[&fast]).await;
    }
    let mut text = String::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stalled.next()).await {
            Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
            Ok(None) => break,
            Err(_) => panic!("the stalled stream neither ended nor went on: {text}"),
        }
    }
    let mut got = Vec::new();
    parse(&mut text, &mut got);
    let bids = got.iter().filter(|e| e.0 == "bid").count();
    assert!(bids < 12, "dropped, not buffered: it got {bids} bids");
    assert!(!fast.ended());
    bid_seen(&app, id, &b, 13, &[&fast]).await;
    assert_eq!(fast.bid_seqs(), (1..=13).collect::<Vec<_>>());
}

#[actix_web::test]
async fn a_reconnect_with_last_event_id_gets_exactly_what_it_missed_while_others_watch() {
    let app = spawn_app().await;
    let (_, id, b) = bidding(&app).await;
    let path = events_path(id);
    let steady = Watcher::open(&app, &path, None).await;
    let first = Watcher::open(&app, &path, None).await;
    for seq in 1..=2 {
        bid_seen(&app, id, &b, seq, &[&steady, &first]).await;
    }
    drop(first);
    for seq in 3..=4 {
        bid_seen(&app, id, &b, seq, &[&steady]).await;
    }
    let again = Watcher::open(&app, &path, Some("2")).await;
    again
        .until("the missed bids", |w| w.bid_seqs() == [3, 4])
        .await;
    bid_seen(&app, id, &b, 5, &[&steady, &again]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(again.bid_seqs(), [3, 4, 5], "each once, in order");
    let ids: Vec<Option<String>> = again
        .events()
        .iter()
        .filter(|e| e.0 == "bid")
        .map(|e| e.1.clone())
        .collect();
    assert_eq!(
        ids,
        [Some("3".into()), Some("4".into()), Some("5".into())],
        "the SSE id is the seq"
    );
    assert_eq!(steady.bid_seqs(), [1, 2, 3, 4, 5]);
}

async fn get_events(app: &TestApp, id: i64) -> crate::helpers::Resp {
    tokio::time::timeout(
        Duration::from_secs(5),
        app.get(&format!("/api/v1/listings/{id}/auction/events"), None),
    )
    .await
    .expect("an answer that ends within 5 s")
}

#[actix_web::test]
async fn streams_beyond_the_per_address_cap_get_429_too_many_streams() {
    let app = spawn_app_with(|s| s.live.sse_max_per_address = 2).await;
    let c = cast(&app).await;
    let no_auction = approved(&app, &c, &in_secs(600)).await;
    let (_, id, _) = bidding(&app).await;
    // Refused streams give their place back.
    for _ in 0..3 {
        get_events(&app, no_auction)
            .await
            .assert_problem(409, "no_auction");
    }
    let a = Watcher::open(&app, &events_path(id), None).await;
    let _b = Watcher::open(&app, &events_path(id), None).await;
    let refused = get_events(&app, id).await;
    refused.assert_problem(429, "too_many_streams");
    assert_eq!(refused.header("retry-after").as_deref(), Some("5"));
    // Closing one lets another in.
    drop(a);
    let mut status = 0;
    for _ in 0..50 {
        let resp = app
            .client
            .get(app.url(&events_path(id)))
            .send()
            .await
            .unwrap();
        status = resp.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn streams_beyond_the_per_instance_cap_get_429_too_many_streams() {
    let app = spawn_app_with(|s| {
        s.live.sse_max_per_instance = 2;
        s.live.retry_after_seconds = 7;
    })
    .await;
    let (_, id, _) = bidding(&app).await;
    let _a = Watcher::open(&app, &events_path(id), None).await;
    let _b = Watcher::open(&app, &events_path(id), None).await;
    let refused = get_events(&app, id).await;
    refused.assert_problem(429, "too_many_streams");
    assert_eq!(refused.header("retry-after").as_deref(), Some("7"));
    assert_eq!(app.state().hub.streams(), 2);
}

#[actix_web::test]
async fn a_stream_on_a_listing_without_an_auction_is_refused_with_no_auction() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = approved(&app, &c, &in_secs(600)).await;
    let p = get_events(&app, id).await.assert_problem(409, "no_auction");
    assert!(p["detail"].as_str().unwrap().contains("no auction"), "{p}");
    get_events(&app, 999_999_999)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(no_feeds(&app).await, 0, "no feed left behind");
}

#[actix_web::test]
async fn a_stream_on_an_auction_that_is_over_ends_after_closed_and_tells_clients_to_wait() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 1}),
    )
    .await;
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    app.post(
        &format!("/api/v1/listings/{id}/auction"),
        Some(&c.operator),
        &json!({"starts_at": start}),
    )
    .await;
    wait_status(&app, id, "bidding").await;
    let watching = Watcher::open(&app, &events_path(id), None).await;
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);
    assert_eq!(wait_status(&app, id, "awarded").await["status"], "awarded");
    // A subscriber during the close sees `closed` and its stream ends.
    watching.until("the end of the stream", |w| w.ended()).await;
    let last = watching.events().last().cloned().unwrap();
    assert_eq!(
        (last.0.as_str(), &last.2["status"]),
        ("closed", &json!("awarded"))
    );
    // One arriving afterwards gets the bids and `closed`, a hint to wait an hour before
    // reconnecting, and the end.
    let late = get_events(&app, id).await;
    assert_eq!(late.status, 200);
    let mut text = String::from_utf8(late.body).unwrap();
    assert!(text.ends_with("retry: 3600000\n\n"), "{text}");
    let mut got = Vec::new();
    parse(&mut text, &mut got);
    let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["bid", "closed"]);
    assert_eq!(
        no_feeds(&app).await,
        0,
        "no feed for an auction that is over"
    );
}

#[actix_web::test]
async fn a_stream_ends_after_its_longest_lifetime() {
    let app = spawn_app_with(|s| s.live.max_stream_seconds = 1).await;
    let (_, id, b) = bidding(&app).await;
    let w = Watcher::open(&app, &events_path(id), None).await;
    bid_seen(&app, id, &b, 1, &[&w]).await;
    w.until("the end of the stream", |w| w.ended()).await;
    // The client reconnects and misses nothing.
    let again = Watcher::open(&app, &events_path(id), Some("1")).await;
    bid_seen(&app, id, &b, 2, &[&again]).await;
    assert_eq!(again.bid_seqs(), [2]);
}

#[actix_web::test]
async fn a_quiet_stream_ends_after_the_idle_limit_keep_alives_notwithstanding() {
    let app = spawn_app_with(|s| {
        s.live.max_idle_seconds = 2;
        s.live.keep_alive_seconds = 1;
    })
    .await;
    let (_, id, _) = bidding(&app).await;
    let started = std::time::Instant::now();
    let w = Watcher::open(&app, &events_path(id), None).await;
    w.until("the end of the stream", |w| w.ended()).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        w.raw.lock().unwrap().contains(": keep-alive\n\n"),
        "keep-alive comments while it lasted"
    );
}
