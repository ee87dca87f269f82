//! E-mail: the outbox, delivery through a real SMTP server on loopback, retries, giving up,
//! several workers, e-mail verification and the notification lists.

use std::time::Duration;

use asset_exchange::config::{MailTransportKind, Settings, SmtpTls};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, next_id, spawn_app, spawn_app_with, spawn_sibling};
use crate::smtp;

fn via_smtp(port: u16) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.mail.transport = MailTransportKind::Smtp;
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = port;
        s.mail.smtp_tls = SmtpTls::None;
        s.mail.smtp_timeout_seconds = 2;
        s.mail.retry_initial_seconds = 1;
        s.mail.retry_max_delay_seconds = 1;
    }
}

/// Polls the stub transport until `n` messages were sent.
async fn stub_sent(app: &TestApp, n: usize) -> Vec<asset_exchange::notify::transport::StubMail> {
    for _ in 0..100 {
        let sent = app.mailer_stub();
        if sent.len() >= n {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.mailer_stub()
}

fn token_in(text: &str) -> String {
    let start = text.find("token=").expect("a verification link") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[actix_web::test]
async fn registration_sends_a_welcome_with_a_working_verification_link() {
    let app = spawn_app().await;
    let email = format!("new{}@example.com", next_id());
    let r = app
        .register(json!({"email": email, "organization_name": "厦门某国有企业"}))
        .await;
    assert_eq!(r.status, 201);
    let sent = stub_sent(&app, 1).await;
    assert_eq!(sent.len(), 1);
    let mail = &sent[0];
    assert_eq!(mail.to, email);
    assert!(mail.subject.contains("欢迎"), "{}", mail.subject);
    assert!(mail.text.contains("厦门某国有企业"));
    assert!(mail.html.contains("厦门某国有企业"));
    assert!(mail.text.contains(&format!(
        "{}/verify-email?token=",
        app.settings.server.public_base_url
    )));
    let token = token_in(&mail.text);

    let t = app.login(&email, PASSWORD).await.json();
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/api/v1/me", Some(&access)).await.json()["email_verified"],
        false
    );
    let r = app
        .post("/api/v1/auth/verify-email", None, &json!({"token": token}))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get("/api/v1/me", Some(&access)).await.json()["email_verified"],
        true
    );
    assert_eq!(app.audit_count(Some("user.email_verified")).await, 1);
    // A link works once.
    app.post("/api/v1/auth/verify-email", None, &json!({"token": token}))
        .await
        .assert_problem(400, "invalid_token");
    app.post(
        "/api/v1/auth/verify-email/resend",
        Some(&access),
        &json!({}),
    )
    .await
    .assert_problem(409, "already_verified");
}

#[actix_web::test]
async fn a_resent_link_replaces_the_old_one_and_links_expire() {
    let app = spawn_app().await;
    let (email, t) = app.signed_in("bidder").await;
    let first = token_in(&stub_sent(&app, 1).await[0].text);
    let r = app
        .post(
            "/api/v1/auth/verify-email/resend",
            t["access_token"].as_str(),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 202);
    let sent = stub_sent(&app, 2).await;
    let second = sent
        .iter()
        .find(|m| m.to == email && m.subject.contains("请确认"))
        .map(|m| token_in(&m.text))
        .unwrap();
    app.post("/api/v1/auth/verify-email", None, &json!({"token": first}))
        .await
        .assert_problem(400, "token_expired");
    app.clock.advance(chrono::Duration::hours(25));
    app.post("/api/v1/auth/verify-email", None, &json!({"token": second}))
        .await
        .assert_problem(400, "token_expired");
}

#[actix_web::test]
async fn a_refused_registration_queues_no_mail() {
    let app = spawn_app().await;
    let email = format!("once{}@example.com", next_id());
    app.register(json!({"email": email})).await;
    app.register(json!({"email": format!("x{email}"), "credit_code": "not-a-code"}))
        .await
        .assert_problem(422, "validation_failed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.mailer_stub().len(), 1);
}

#[actix_web::test]
async fn me_notifications_lists_the_callers_mail_with_status() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("enterprise").await;
    stub_sent(&app, 1).await;
    let mut page = Value::Null;
    for _ in 0..50 {
        page = app
            .get("/api/v1/me/notifications", t["access_token"].as_str())
            .await
            .json();
        if page["items"][0]["status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(page["total"], 1);
    let n = &page["items"][0];
    assert_eq!(n["kind"], "welcome");
    assert_eq!(n["status"], "sent");
    assert!(n["sent_at"].is_string() && n["created_at"].is_string());
    assert!(n.get("to_address").is_none(), "the list shows no addresses");
    // Someone else's list does not show it.
    let (_, other) = app.signed_in("bidder").await;
    let theirs = app
        .get("/api/v1/me/notifications", other["access_token"].as_str())
        .await
        .json();
    assert!(
        theirs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != n["id"])
    );
}

#[actix_web::test]
async fn lockout_and_the_next_login_are_both_mailed() {
    let app = spawn_app().await;
    let (email, _) = app.signed_in("bidder").await;
    for _ in 0..5 {
        app.login(&email, "Wrong-Passphrase-42").await;
    }
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    let sent = stub_sent(&app, 3).await;
    let subjects: Vec<&str> = sent
        .iter()
        .filter(|m| m.to == email)
        .map(|m| m.subject.as_str())
        .collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(subjects[1].contains("锁定"));
    assert!(subjects[2].contains("新的登录"));
    assert!(sent[2].text.contains("127.0.0.1"));
}

#[actix_web::test]
async fn smtp_delivery_carries_recipient_subject_both_bodies_and_headers() {
    let server = smtp::start(0, &[]);
    let app = spawn_app_with(via_smtp(server.port)).await;
    let email = format!("smtp{}@example.com", next_id());
    let r = app.register(json!({"email": email, "name": "Li Wei", "locale": "en", "organization_name": "Fujian State Holdings"})).await;
    assert_eq!(r.status, 201);
    let received = server.wait_for(1, 10).await;
    assert_eq!(received.len(), 1);
    assert!(
        received[0].to.iter().any(|t| t.contains(&email)),
        "{:?}",
        received[0].to
    );
    let mail = smtp::parse(&received[0].raw);
    assert_eq!(mail.header("To"), Some(email.as_str()));
    assert!(
        mail.header("From")
            .unwrap()
            .contains("noreply@exchange.example")
    );
    assert!(
        mail.header("Subject")
            .unwrap()
            .starts_with("Welcome to the State Asset Exchange")
    );
    assert!(mail.header("Date").is_some());
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative")
    );
    let message_id = mail.header("Message-ID").unwrap().to_string();
    assert!(message_id.starts_with('<') && message_id.ends_with("@exchange.example>"));
    assert!(mail.text.starts_with("Dear Li Wei,"), "{}", mail.text);
    assert!(mail.text.contains("Fujian State Holdings"));
    // minijinja escapes `/` as `&#x2f;`, which browsers read back as `/`.
    let html = mail.html.replace("&#x2f;", "/");
    assert!(
        html.contains("<a href=\"http://127.0.0.1:8080/verify-email?token="),
        "{html}"
    );
    // The outbox row is marked sent, with the same Message-ID.
    let (_, operator) = app.staff("operator").await;
    let mut row = Value::Null;
    for _ in 0..50 {
        let page = app
            .get("/api/v1/notifications?status=sent", Some(&operator))
            .await
            .json();
        if let Some(r) = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["to_address"] == email)
        {
            row = r.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(row["message_id"], message_id);
    assert_eq!(row["attempts"], 1);
}

#[actix_web::test]
async fn mail_queued_while_smtp_is_down_is_delivered_once_when_it_comes_back() {
    let port = smtp::free_port();
    let app = spawn_app_with(via_smtp(port)).await;
    for _ in 0..5 {
        assert_eq!(
            app.register(json!({"name": "Down Test", "locale": "en"}))
                .await
                .status,
            201
        );
    }
    // Let a few attempts fail against the closed port.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = smtp::start(port, &[]);
    let received = server.wait_for(5, 15).await;
    // Give any duplicate a chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = if received.len() == 5 {
        server.received()
    } else {
        received
    };
    assert_eq!(received.len(), 5, "each message exactly once");
    let mut ids: Vec<String> = received
        .iter()
        .map(|r| {
            smtp::parse(&r.raw)
                .header("Message-ID")
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

#[actix_web::test]
async fn a_permanently_failing_address_ends_failed_while_other_mail_flows() {
    let server = smtp::start(0, &["bounce"]);
    let app = spawn_app_with(|s| {
        via_smtp(server.port)(s);
        s.mail.max_attempts = 3;
    })
    .await;
    let bad = format!("bounce{}@example.com", next_id());
    app.register(json!({"email": bad, "locale": "en", "name": "Bounce"}))
        .await;
    for _ in 0..3 {
        app.register(json!({"locale": "en", "name": "Fine"})).await;
    }
    let (_, operator) = app.staff("operator").await;
    let mut failed = Value::Null;
    for _ in 0..100 {
        failed = app
            .get("/api/v1/notifications?status=failed", Some(&operator))
            .await
            .json();
        if failed["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failed["total"], 1, "{failed}");
    let row = &failed["items"][0];
    assert_eq!(row["to_address"], bad);
    assert_eq!(row["attempts"], 3);
    assert!(row["last_error"].as_str().unwrap().contains("550"));
    assert!(
        !row["last_error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("password")
    );
    let received = server.wait_for(3, 10).await;
    assert_eq!(
        received
            .iter()
            .filter(|r| r.to.iter().any(|t| t.contains("bounce")))
            .count(),
        0
    );
    assert!(received.len() >= 3);
    // An operator can put it back in the queue; a non-failed one cannot be retried.
    let id = row["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/notifications/{id}/retry"),
            Some(&operator),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "pending");
    app.post(
        &format!("/api/v1/notifications/{id}/retry"),
        Some(&operator),
        &json!({}),
    )
    .await
    .assert_problem(409, "invalid_state");
    let (_, bidder) = app.signed_in("bidder").await;
    app.get("/api/v1/notifications", bidder["access_token"].as_str())
        .await
        .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn two_workers_over_one_database_deliver_each_message_exactly_once() {
    let server = smtp::start(0, &[]);
    // Both instances run the mail worker; the second also answers requests.
    let first = spawn_app_with(|s| {
        via_smtp(server.port)(s);
        s.mail.batch_size = 2;
    })
    .await;
    let second = spawn_sibling(&first, |_| {}).await;
    let n = 24;
    for i in 0..n {
        let app = if i % 2 == 0 { &first } else { &second };
        assert_eq!(
            app.register(json!({"locale": "en", "name": "Twin"}))
                .await
                .status,
            201
        );
    }
    let received = server.wait_for(n, 20).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let received = if received.len() == n {
        server.received()
    } else {
        received
    };
    assert_eq!(received.len(), n);
    let mut ids: Vec<String> = received
        .iter()
        .map(|r| {
            smtp::parse(&r.raw)
                .header("Message-ID")
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a message was sent twice");
}

#[actix_web::test]
async fn the_file_transport_writes_eml_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_string_lossy().to_string();
    let app = spawn_app_with(move |s| {
        s.mail.transport = MailTransportKind::File;
        s.mail.file_dir = path;
    })
    .await;
    app.register(json!({})).await;
    let mut files = Vec::new();
    for _ in 0..50 {
        files = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().unwrap(), "eml");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("Message-ID: <"));
    assert!(raw.contains("multipart/alternative"));
}

#[actix_web::test]
async fn shutdown_lets_a_send_in_flight_finish_and_records_it() {
    let server = smtp::start_slow(0, &[], Duration::from_millis(1500));
    let mut app = spawn_app_with(via_smtp(server.port)).await;
    let (_, operator) = app.staff("operator").await;
    app.register(json!({"locale": "en", "name": "Slow"})).await;
    for _ in 0..100 {
        if server.receiving() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.receiving(), "the send never started");
    app.stop_jobs().await;
    assert_eq!(server.received().len(), 1, "the send in flight was cut off");
    let sent = app
        .get("/api/v1/notifications?status=sent", Some(&operator))
        .await
        .json();
    assert_eq!(
        sent["total"], 1,
        "the finished send was not recorded: {sent}"
    );
}

#[actix_web::test]
async fn resending_verification_links_is_limited_per_account() {
    let app = spawn_app_with(|s| s.mail.resend_per_account_per_hour = 3).await;
    let (_, t) = app.signed_in("bidder").await;
    let access = t["access_token"].as_str();
    // The welcome mail counts: two more links this hour, then 429.
    for _ in 0..2 {
        let r = app
            .post("/api/v1/auth/verify-email/resend", access, &json!({}))
            .await;
        assert_eq!(r.status, 202);
    }
    let refused = app
        .post("/api/v1/auth/verify-email/resend", access, &json!({}))
        .await;
    refused.assert_problem(429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    // An hour later (the exchange's clock) the account may ask again.
    app.clock.advance(chrono::Duration::seconds(3601));
    let access = app.token_of(access.unwrap()).await;
    let r = app
        .post(
            "/api/v1/auth/verify-email/resend",
            Some(&access),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 202);
}

#[actix_web::test]
async fn resending_verification_links_is_limited_per_address_per_day() {
    let app = spawn_app_with(|s| {
        s.mail.resend_per_account_per_hour = 100;
        s.mail.unsolicited_per_address_per_day = 4;
    })
    .await;
    let (_, t) = app.signed_in("bidder").await;
    let access = t["access_token"].as_str();
    for _ in 0..3 {
        let r = app
            .post("/api/v1/auth/verify-email/resend", access, &json!({}))
            .await;
        assert_eq!(r.status, 202);
    }
    app.post("/api/v1/auth/verify-email/resend", access, &json!({}))
        .await
        .assert_problem(429, "rate_limited");
}

#[actix_web::test]
async fn urgent_mail_is_claimed_before_older_bulk_mail() {
    let mut app = spawn_app().await;
    app.stop_jobs().await;
    for _ in 0..3 {
        assert_eq!(app.register(json!({})).await.status, 201);
    }
    let email = format!("locked{}@example.com", next_id());
    assert_eq!(app.register(json!({"email": email})).await.status, 201);
    for _ in 0..app.settings.auth.max_failed_logins {
        app.login(&email, "not-the-password-at-all").await;
    }
    // One message per round: the lockout mail goes first, though it was queued last.
    let now = app.now();
    let claim = move |c: &mut asset_exchange::store::Conn<'_>| {
        asset_exchange::store::notifications::claim(
            c,
            now,
            now + chrono::Duration::minutes(5),
            "test-claim",
            1,
        )
    };
    let first = app.db().tx(claim).await.unwrap();
    let second = app.db().tx(claim).await.unwrap();
    assert_eq!(first[0].kind, "account_locked");
    assert_eq!(first[0].to_address, email);
    assert_eq!(second[0].kind, "welcome");
    assert_ne!(second[0].to_address, email);
}

/// One link opened twice at once (a double click, a mail client's prefetch next to the
/// user): the address is verified once, with one audit event; the other request is told the
/// link was used.
#[actix_web::test]
async fn one_link_redeemed_twice_at_once_verifies_once() {
    let app = spawn_app().await;
    let email = format!("twice{}@example.com", next_id());
    let r = app.register(json!({"email": email})).await;
    assert_eq!(r.status, 201);
    let token = token_in(&stub_sent(&app, 1).await[0].text);
    let body = json!({"token": token});
    let answers = futures_util::future::join_all(
        (0..6).map(|_| app.post("/api/v1/auth/verify-email", None, &body)),
    )
    .await;
    let ok = answers.iter().filter(|r| r.status == 204).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 204) {
        r.assert_problem(400, "invalid_token");
    }
    assert_eq!(app.audit_count(Some("user.email_verified")).await, 1);
}
