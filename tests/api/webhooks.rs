//! Signed webhooks to the supervision platform, against a real HTTP receiver on loopback:
//! signatures, at-least-once delivery in order per listing across a receiver outage and a
//! restart of the service, pause and resume, secret rotation, failure and requeue, and the
//! admin API's validation.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{TestApp, spawn_app, spawn_app_with, spawn_sibling};
use crate::listings::{Cast, cast, draft};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    signature: String,
    event_id: String,
    body: Vec<u8>,
    /// The status it answered.
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that records every POST and answers `status`.
struct Receiver {
    port: u16,
    log: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = Receiver {
            port: listener.local_addr().unwrap().port(),
            log: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            task: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: TcpListener) {
        let (log, status) = (self.log.clone(), self.status.clone());
        self.task = Some(tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(handle(socket, log.clone(), status.clone()));
            }
        }));
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Closes the port: connections are refused until [`Receiver::restart`].
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    async fn restart(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// What was accepted (2xx) at `path`, once per `X-Event-Id`, in arrival order.
    fn accepted(&self, path: &str) -> Vec<Received> {
        let mut seen = HashSet::new();
        self.received()
            .into_iter()
            .filter(|r| r.path == path && (200..300).contains(&r.answered))
            .filter(|r| seen.insert(r.event_id.clone()))
            .collect()
    }
}

async fn handle(mut socket: TcpStream, log: Arc<Mutex<Vec<Received>>>, status: Arc<AtomicU16>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let header = |name: &str| {
        head.split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let answered = status.load(Ordering::SeqCst);
    log.lock().unwrap().push(Received {
        path,
        signature: header("x-signature"),
        event_id: header("x-event-id"),
        body: buf[head_end..head_end + length].to_vec(),
        answered,
    });
    let reply = format!("HTTP/1.1 {answered} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = socket.write_all(reply.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// The receiver's check, computed here with `hmac` and `sha2`.
fn signed_with(secret: &str, r: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&r.body);
    r.signature == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Polls `check` until it holds, failing after `secs` seconds with `what`.
async fn until(secs: u64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn register(app: &TestApp, admin: &str, url: &str, secret: &str, events: Value) -> i64 {
    let r = app
        .post(
            "/api/v1/admin/webhooks",
            Some(admin),
            &json!({"url": url, "secret": secret, "events": events}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json().get("secret").is_none());
    r.json()["id"].as_i64().unwrap()
}

/// A draft listing changed `edits` times: 1 + `edits` `listing.*` events on its stream.
async fn listing_with_events(app: &TestApp, c: &Cast, edits: usize) -> i64 {
    let id = draft(app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    for i in 0..edits {
        let r = app
            .patch(
                &format!("/api/v1/listings/{id}"),
                Some(&c.owner),
                &json!({"title": format!("监管推送测试项目 {i}")}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    id
}

/// The ids of a listing's `listing.*` events in the trail, in order.
async fn trail(app: &TestApp, listing: i64) -> Vec<i64> {
    let stream = format!("listing:{listing}");
    let events = app
        .db()
        .run(move |c| asset_exchange::store::audit::stream_events(c, &stream))
        .await
        .unwrap();
    events
        .into_iter()
        .filter(|e| e.action.starts_with("listing."))
        .map(|e| e.id)
        .collect()
}

/// Event ids per listing, in the order the receiver accepted them.
fn by_listing(received: &[Received]) -> BTreeMap<i64, Vec<i64>> {
    let mut out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for r in received {
        let b = r.json();
        assert_eq!(
            b["id"].to_string(),
            r.event_id,
            "X-Event-Id is the body's id"
        );
        out.entry(b["listing_id"].as_i64().unwrap())
            .or_default()
            .push(b["id"].as_i64().unwrap());
    }
    out
}

async fn deliveries(app: &TestApp, admin: &str, hook: i64) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/admin/webhooks/{hook}/deliveries?per_page=100"),
            Some(admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn every_matching_event_is_posted_signed_with_the_trails_payload() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.staff("admin").await;
    let secret = "province-platform-secret-1";
    register(
        &app,
        &admin,
        &receiver.url("/hook"),
        secret,
        json!(["listing.*"]),
    )
    .await;
    let c = cast(&app).await;
    let listing = listing_with_events(&app, &c, 2).await;
    let want = trail(&app, listing).await;
    assert_eq!(want.len(), 3);

    until(20, "three deliveries", async || {
        receiver.accepted("/hook").len() >= 3
    })
    .await;

    let got = receiver.accepted("/hook");
    assert!(
        got.iter().all(|r| signed_with(secret, r)),
        "every signature verifies"
    );
    assert!(
        !got.iter()
            .any(|r| signed_with("another-secret-entirely", r))
    );
    assert_eq!(by_listing(&got)[&listing], want);
    let first = got[0].json();
    assert_eq!(first["event"], "listing.created");
    assert!(first["occurred_at"].as_str().is_some());
    let stored = app
        .db()
        .run(move |c| asset_exchange::store::audit::stream_events(c, &format!("listing:{listing}")))
        .await
        .unwrap();
    let payload: Value = serde_json::from_str(&stored[0].payload).unwrap();
    assert_eq!(
        first["payload"], payload,
        "the payload is the event's, nothing more"
    );
}

#[actix_web::test]
async fn a_receiver_down_then_up_gets_every_event_once_in_order_across_a_restart() {
    let mut app = spawn_app_with(|s| s.webhooks.max_attempts = 1_000).await;
    let mut receiver = Receiver::start().await;
    receiver.stop().await;
    let (_, admin) = app.staff("admin").await;
    let secret = "province-platform-secret-2";
    let hook = register(
        &app,
        &admin,
        &receiver.url("/down"),
        secret,
        json!(["listing.*"]),
    )
    .await;
    let c = cast(&app).await;
    let a = listing_with_events(&app, &c, 3).await;
    let b = listing_with_events(&app, &c, 2).await;
    // The worker tried and failed while the receiver was down.
    until(20, "failed attempts", async || {
        deliveries(&app, &admin, hook)
            .await
            .iter()
            .any(|d| d["attempts"].as_i64().unwrap() >= 2 && d["status"] == "pending")
    })
    .await;

    // The service restarts (its worker stops; a new instance on the same database takes
    // over), more events happen meanwhile, and the receiver comes back.
    app.stop_jobs().await;
    let second = spawn_sibling(&app, |_| {}).await;
    let more = listing_with_events(&second, &c, 1).await;
    receiver.restart().await;

    let expected: BTreeMap<i64, Vec<i64>> = [
        (a, trail(&second, a).await),
        (b, trail(&second, b).await),
        (more, trail(&second, more).await),
    ]
    .into_iter()
    .collect();
    let total: usize = expected.values().map(Vec::len).sum();
    until(30, "every event delivered", async || {
        receiver.accepted("/down").len() >= total
    })
    .await;
    let got = receiver.accepted("/down");
    assert!(got.iter().all(|r| signed_with(secret, r)));
    assert_eq!(
        by_listing(&got),
        expected,
        "each event once, in order per listing"
    );
    until(10, "the log says delivered", async || {
        deliveries(&second, &admin, hook)
            .await
            .iter()
            .all(|d| d["status"] == "delivered")
    })
    .await;
}

#[actix_web::test]
async fn a_paused_webhook_sends_nothing_and_sends_everything_on_resume() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.staff("admin").await;
    let witness = register(
        &app,
        &admin,
        &receiver.url("/witness"),
        "witness-secret-0001",
        json!(["listing.*"]),
    )
    .await;
    let paused = register(
        &app,
        &admin,
        &receiver.url("/paused"),
        "paused-secret-00001",
        json!(["listing.*"]),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/admin/webhooks/{paused}/pause"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("paused"))
    );
    let c = cast(&app).await;
    let listing = listing_with_events(&app, &c, 2).await;

    // The active witness got all three: the worker has had its rounds.
    until(20, "the witness's deliveries", async || {
        receiver.accepted("/witness").len() >= 3
    })
    .await;
    assert!(
        receiver.accepted("/paused").is_empty(),
        "nothing while paused"
    );
    let queued = deliveries(&app, &admin, paused).await;
    assert_eq!(queued.len(), 3);
    assert!(
        queued
            .iter()
            .all(|d| d["status"] == "pending" && d["attempts"] == 0)
    );

    let r = app
        .post(
            &format!("/api/v1/admin/webhooks/{paused}/resume"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("active"))
    );
    until(20, "the queued deliveries", async || {
        receiver.accepted("/paused").len() >= 3
    })
    .await;
    assert_eq!(
        by_listing(&receiver.accepted("/paused"))[&listing],
        trail(&app, listing).await
    );
    assert_eq!(deliveries(&app, &admin, witness).await.len(), 3);
}

#[actix_web::test]
async fn a_rotated_secret_signs_the_deliveries_after_the_rotation() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.staff("admin").await;
    let (old, new) = ("the-old-secret-000001", "the-new-secret-000002");
    let hook = register(
        &app,
        &admin,
        &receiver.url("/rot"),
        old,
        json!(["listing.*"]),
    )
    .await;
    let c = cast(&app).await;
    let first = listing_with_events(&app, &c, 0).await;
    until(20, "the first delivery", async || {
        !receiver.accepted("/rot").is_empty()
    })
    .await;

    let r = app
        .post(
            &format!("/api/v1/admin/webhooks/{hook}/secret"),
            Some(&admin),
            &json!({"secret": new}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json().get("secret").is_none());
    let second = listing_with_events(&app, &c, 0).await;
    until(20, "the second delivery", async || {
        receiver.accepted("/rot").len() >= 2
    })
    .await;

    let got = receiver.accepted("/rot");
    let of = |l: i64| {
        got.iter()
            .find(|r| r.json()["listing_id"] == l)
            .unwrap()
            .clone()
    };
    assert!(signed_with(old, &of(first)) && !signed_with(new, &of(first)));
    assert!(signed_with(new, &of(second)) && !signed_with(old, &of(second)));
    let audit = app.audit_count(Some("webhook.secret_rotated")).await;
    assert_eq!(audit, 1);
}

#[actix_web::test]
async fn a_failed_delivery_holds_its_listing_back_until_it_is_requeued() {
    let app = spawn_app_with(|s| s.webhooks.max_attempts = 2).await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let (_, admin) = app.staff("admin").await;
    let hook = register(
        &app,
        &admin,
        &receiver.url("/fail"),
        "failing-secret-00001",
        json!(["listing.*"]),
    )
    .await;
    let c = cast(&app).await;
    let listing = listing_with_events(&app, &c, 2).await;

    until(20, "the first delivery failed", async || {
        deliveries(&app, &admin, hook)
            .await
            .iter()
            .any(|d| d["status"] == "failed")
    })
    .await;
    let log = deliveries(&app, &admin, hook).await; // newest first
    let failed = log.last().unwrap().clone();
    assert_eq!(
        (failed["status"].clone(), failed["attempts"].clone()),
        (json!("failed"), json!(2))
    );
    assert_eq!(failed["last_status"], 500);
    assert!(
        log[..2]
            .iter()
            .all(|d| d["status"] == "pending" && d["attempts"] == 0),
        "later events wait behind the failed one: {log:?}"
    );
    let r = app
        .post(
            &format!(
                "/api/v1/admin/webhooks/{hook}/deliveries/{}/requeue",
                log[0]["id"]
            ),
            Some(&admin),
            &json!({}),
        )
        .await;
    r.assert_problem(409, "delivery_not_failed");

    receiver.answer(200);
    let r = app
        .post(
            &format!(
                "/api/v1/admin/webhooks/{hook}/deliveries/{}/requeue",
                failed["id"]
            ),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    until(20, "all three delivered", async || {
        receiver.accepted("/fail").len() >= 3
    })
    .await;
    assert_eq!(
        by_listing(&receiver.accepted("/fail"))[&listing],
        trail(&app, listing).await
    );
}

#[actix_web::test]
async fn registrations_are_validated_and_secrets_never_shown() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("admin").await;
    let post = |body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.post("/api/v1/admin/webhooks", Some(&admin), &body)
                .await
        }
    };
    let ok = json!({"url": "https://jg.example.gov.cn/hook", "secret": "0123456789abcdef", "events": ["listing.*", "bid.accepted", "deal.*", "alert.raised"]});
    for (field, value) in [
        ("url", json!("ftp://jg.example.gov.cn/hook")),
        ("url", json!("not a url")),
        ("secret", json!("too-short")),
        ("events", json!([])),
        ("events", json!(["user.*"])),
        ("events", json!(["listing.*", "nonsense"])),
    ] {
        let mut body = ok.clone();
        body[field] = value.clone();
        let p = post(body).await.assert_problem(422, "validation_failed");
        assert!(p.to_string().contains(field), "{field}={value}: {p}");
    }
    let r = post(ok.clone()).await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().unwrap();
    let list = app.get("/api/v1/admin/webhooks", Some(&admin)).await;
    assert_eq!(list.status, 200);
    assert!(!String::from_utf8_lossy(&list.body).contains("0123456789abcdef"));
    assert_eq!(list.json()[0]["events"], ok["events"]);
    let r = app
        .post(
            &format!("/api/v1/admin/webhooks/{id}/secret"),
            Some(&admin),
            &json!({"secret": "short"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let r = app
        .post(
            "/api/v1/admin/webhooks/999999/pause",
            Some(&admin),
            &json!({}),
        )
        .await;
    r.assert_problem(404, "not_found");
    // The secret is in no audit event.
    let events = app
        .get("/api/v1/audit/events?per_page=100", Some(&admin))
        .await;
    assert!(!String::from_utf8_lossy(&events.body).contains("0123456789abcdef"));
    assert_eq!(app.audit_count(Some("webhook.registered")).await, 1);
}

#[actix_web::test]
async fn a_registered_webhook_adds_no_statement_to_the_bid_path_and_gets_the_bids() {
    use crate::auctions::{bid, key, ready_for_auction};
    let mut app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.staff("admin").await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(&app, &c, 2, json!({})).await;
    let start = (chrono::Utc::now() + chrono::Duration::seconds(603)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    app.stop_jobs().await;
    app.clock.advance(chrono::Duration::seconds(5));
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);

    // The first time a bidder is outbid costs a few statements more than later times (it
    // runs before anything is measured), so both sides compare an outbid bidder's later bid.
    assert_eq!(bid(&app, id, &b[1], "10050000", &key()).await.status, 201);
    let before = app.statements();
    assert_eq!(bid(&app, id, &b[0], "10100000", &key()).await.status, 201);
    let without = app.statements() - before;
    let secret = "bid-path-secret-00001";
    register(
        &app,
        &admin,
        &receiver.url("/bids"),
        secret,
        json!(["bid.accepted"]),
    )
    .await;
    let before = app.statements();
    assert_eq!(bid(&app, id, &b[1], "10150000", &key()).await.status, 201);
    let with = app.statements() - before;
    assert_eq!(
        with, without,
        "the fan-out is the database's trigger, not a statement"
    );

    // A fresh instance's worker sends the bid made after the registration.
    let second = spawn_sibling(&app, |_| {}).await;
    // The test moved its clock (the auction's schedule): the new instance's clock agrees.
    second
        .clock
        .advance(app.now() - second.now() + chrono::Duration::seconds(1));
    until(20, "the bid's delivery", async || {
        !receiver.accepted("/bids").is_empty()
    })
    .await;
    let got = receiver.accepted("/bids");
    assert_eq!(got.len(), 1);
    assert!(signed_with(secret, &got[0]));
    let body = got[0].json();
    assert_eq!(
        (body["event"].clone(), body["listing_id"].clone()),
        (json!("bid.placed"), json!(id))
    );
}

#[actix_web::test]
async fn two_instances_on_one_database_send_each_delivery_once_and_in_order() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app, |_| {}).await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.staff("admin").await;
    let secret = "two-instances-secret-01";
    register(
        &app,
        &admin,
        &receiver.url("/two"),
        secret,
        json!(["listing.*"]),
    )
    .await;
    let c = cast(&app).await;
    let mut expected = BTreeMap::new();
    for instance in [&app, &sibling, &app, &sibling] {
        let id = listing_with_events(instance, &c, 3).await;
        expected.insert(id, trail(&app, id).await);
    }
    let total: usize = expected.values().map(Vec::len).sum();
    until(30, "every event delivered", async || {
        receiver.received().len() >= total
    })
    .await;

    // Both instances' workers claim from the same outbox; every answer was a 2xx, so a
    // repeated X-Event-Id would mean two workers sent one delivery.
    let all = receiver.received();
    let ids: HashSet<&str> = all.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "a delivery was sent twice");
    assert_eq!(by_listing(&all), expected);
    assert!(all.iter().all(|r| signed_with(secret, r)));
}

/// An https URL is spoken to in TLS: the first bytes the platform's address receives are a
/// TLS handshake record (0x16, version 3.x), and the failed handshake is logged as a retry.
#[actix_web::test]
async fn an_https_webhook_is_delivered_over_tls() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("admin").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("https://127.0.0.1:{port}/hook");
    let hook = register(
        &app,
        &admin,
        &url,
        "province-platform-secret-tls",
        json!(["listing.*"]),
    )
    .await;
    let c = cast(&app).await;
    listing_with_events(&app, &c, 0).await;
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .expect("the delivery never connected")
        .unwrap();
    let mut first = [0u8; 3];
    socket.read_exact(&mut first).await.unwrap();
    assert_eq!(
        first,
        [0x16, 0x03, 0x01],
        "not a TLS ClientHello: {first:?}"
    );
    drop(socket);
    drop(listener);
    until(20, "the failed handshake is logged", async || {
        deliveries(&app, &admin, hook)
            .await
            .iter()
            .any(|d| d["status"] != "delivered" && !d["last_error"].is_null())
    })
    .await;
}
