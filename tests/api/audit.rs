//! The audit trail: chains written with their changes, verification, checkpoints, tamper
//! detection going around the application, and exports verified offline.

use serde_json::{Value, json};

use crate::helpers::{AUDIT_SIGNING_KEY, PASSWORD, TestApp, spawn_app, spawn_app_with};

async fn verify(app: &TestApp, token: &str) -> Value {
    let r = app.get("/api/v1/audit/verify", Some(token)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn checkpoint(app: &TestApp, token: &str) -> Value {
    let r = app
        .post("/api/v1/audit/checkpoints", Some(token), &json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Some honest history: a bidder registers, signs in, refreshes and signs out.
async fn history(app: &TestApp) -> String {
    let (email, t) = app.signed_in("bidder").await;
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    let t2 = r.json();
    app.post(
        "/api/v1/auth/logout",
        t2["access_token"].as_str(),
        &json!({"refresh_token": t2["refresh_token"]}),
    )
    .await;
    app.login(&email, "Wrong-Passphrase-42").await;
    email
}

/// The user stream id of the bidder with this e-mail.
async fn user_stream(app: &TestApp, email: &str) -> String {
    let t = app.login(email, PASSWORD).await.json();
    let me = app
        .get("/api/v1/me", t["access_token"].as_str())
        .await
        .json();
    format!("user:{}", me["id"])
}

fn invalid(report: &Value) -> (String, i64, String) {
    let f = &report["first_invalid"];
    assert!(f.is_object(), "expected a problem, got {report}");
    (
        f["stream"].as_str().unwrap().into(),
        f["stream_seq"].as_i64().unwrap(),
        f["reason"].as_str().unwrap().into(),
    )
}

#[actix_web::test]
async fn honest_history_verifies_with_every_event_counted() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    history(&app).await;
    checkpoint(&app, &auditor).await;
    history(&app).await;
    let report = verify(&app, &auditor).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["first_invalid"], Value::Null);
    assert_eq!(
        report["events_checked"].as_i64().unwrap(),
        app.audit_count(None).await
    );
    assert!(report["streams_checked"].as_i64().unwrap() >= 5);
    assert_eq!(report["checkpoints_checked"], 1);
}

#[actix_web::test]
async fn events_carry_actor_ip_request_id_and_no_personal_data() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let email = history(&app).await;
    let r = app
        .get(
            "/api/v1/audit/events?action=user.registered",
            Some(&auditor),
        )
        .await;
    assert_eq!(r.status, 200);
    let page = r.json();
    assert_eq!(page["total"], 1);
    let e = &page["items"][0];
    assert_eq!(e["stream_seq"], 1);
    assert_eq!(e["actor_role"], "bidder");
    assert_eq!(e["client_ip"], "127.0.0.1");
    assert!(e["request_id"].as_str().unwrap().len() >= 16);
    assert_eq!(e["prev_hash"], "0".repeat(64));
    assert!(e["payload"]["email_hash"].as_str().unwrap().len() == 64);
    let all = app
        .get("/api/v1/audit/events?per_page=100", Some(&auditor))
        .await;
    let text = String::from_utf8(all.body).unwrap();
    assert!(
        !text.contains(&email),
        "an e-mail address leaked into the trail"
    );
    assert!(!text.contains(PASSWORD), "a password leaked into the trail");
}

#[actix_web::test]
async fn event_query_filters_and_pages() {
    let app = spawn_app().await;
    let (auditor_id, auditor) = app.staff("auditor").await;
    history(&app).await;
    history(&app).await;
    let r = app
        .get(
            "/api/v1/audit/events?action=auth.login_failed&per_page=1&page=2",
            Some(&auditor),
        )
        .await;
    let page = r.json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["page"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let r = app
        .get(
            &format!("/api/v1/audit/events?actor_id={auditor_id}"),
            Some(&auditor),
        )
        .await;
    assert!(
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_id"] == auditor_id)
    );
    let future = app
        .get(
            "/api/v1/audit/events?from=2999-01-01T00:00:00Z",
            Some(&auditor),
        )
        .await;
    assert_eq!(future.json()["total"], 0);
    app.get("/api/v1/audit/events?per_page=1000", Some(&auditor))
        .await
        .assert_problem(400, "invalid_query");
    app.get("/api/v1/audit/events?from=yesterday", Some(&auditor))
        .await
        .assert_problem(400, "invalid_query");
}

#[actix_web::test]
async fn only_auditors_and_admins_read_the_trail() {
    let app = spawn_app().await;
    let (_, bidder) = app.signed_in("bidder").await;
    let (_, operator) = app.staff("operator").await;
    let (_, admin) = app.staff("admin").await;
    for path in [
        "/api/v1/audit/events",
        "/api/v1/audit/verify",
        "/api/v1/audit/export",
    ] {
        app.get(path, None)
            .await
            .assert_problem(401, "unauthorized");
        app.get(path, bidder["access_token"].as_str())
            .await
            .assert_problem(403, "forbidden");
        app.get(path, Some(&operator))
            .await
            .assert_problem(403, "forbidden");
        assert_eq!(app.get(path, Some(&admin)).await.status, 200, "{path}");
    }
    let key = app.get("/api/v1/audit/public-key", None).await.json();
    assert_eq!(key["algorithm"], "ed25519");
    assert_eq!(key["key_id"].as_str().unwrap().len(), 16);
}

#[actix_web::test]
async fn concurrent_writes_keep_every_chain_gap_free_and_valid() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let (email, _) = app.signed_in("bidder").await;
    // 20 logins of one user (one stream) and 20 registrations (20 streams) at once.
    let same_stream = (0..20).map(|_| app.login(&email, PASSWORD));
    let many_streams = (0..20).map(|_| app.register(json!({})));
    let (logins, regs) = futures_util::future::join(
        futures_util::future::join_all(same_stream),
        futures_util::future::join_all(many_streams),
    )
    .await;
    assert!(logins.iter().all(|r| r.status == 200));
    assert!(regs.iter().all(|r| r.status == 201));
    let stream = user_stream(&app, &email).await;
    let r = app
        .get(
            &format!("/api/v1/audit/events?stream={stream}&per_page=100"),
            Some(&auditor),
        )
        .await;
    let seqs: Vec<i64> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stream_seq"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "stream_seq must have no gaps");
    assert!(seqs.len() >= 22);
    checkpoint(&app, &auditor).await;
    assert_eq!(verify(&app, &auditor).await["valid"], true);
}

#[actix_web::test]
async fn checkpoints_signed_while_events_are_written_all_succeed() {
    // A checkpoint marks stream heads as covered and signs the log; an event locks the log and
    // then its stream head. Taken in opposite orders these deadlocked on PostgreSQL (a 500 in
    // the scale-out drill): here both run together, many times, on the same streams.
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let (email, _) = app.signed_in("bidder").await;
    for _ in 0..8 {
        let logins = (0..12).map(|_| app.login(&email, PASSWORD));
        let empty = json!({});
        let checkpoints =
            (0..6).map(|_| app.post("/api/v1/audit/checkpoints", Some(&auditor), &empty));
        let (logins, cps) = futures_util::future::join(
            futures_util::future::join_all(logins),
            futures_util::future::join_all(checkpoints),
        )
        .await;
        for r in logins.iter().chain(cps.iter()) {
            assert!(
                r.status == 200 || r.status == 201,
                "{} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    checkpoint(&app, &auditor).await;
    assert_eq!(verify(&app, &auditor).await["valid"], true);
}

#[actix_web::test]
async fn triggers_refuse_update_and_delete_of_events_and_checkpoints() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    checkpoint(&app, &auditor).await;
    for statement in [
        "UPDATE audit_events SET payload = '{}'",
        "DELETE FROM audit_events",
        "UPDATE audit_checkpoints SET root = 'x'",
        "DELETE FROM audit_checkpoints",
    ] {
        let s = statement.to_string();
        let result = app
            .db()
            .run(move |c| {
                use diesel::connection::SimpleConnection;
                match c {
                    asset_exchange::store::Conn::Pg(c) => c.batch_execute(&s)?,
                    asset_exchange::store::Conn::Sqlite(c) => c.batch_execute(&s)?,
                }
                Ok(())
            })
            .await;
        assert!(result.is_err(), "{statement} was allowed");
    }
    assert_eq!(verify(&app, &auditor).await["valid"], true);
}

const DROP_TRIGGERS_PG: &str = "ALTER TABLE audit_events DISABLE TRIGGER USER; ALTER TABLE audit_checkpoints DISABLE TRIGGER USER;";
const DROP_TRIGGERS_SQLITE: &str = "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; \
     DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;";

async fn without_triggers(app: &TestApp) {
    app.sql(DROP_TRIGGERS_PG, DROP_TRIGGERS_SQLITE).await;
}

#[actix_web::test]
async fn an_updated_payload_is_found_as_a_hash_mismatch() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let email = history(&app).await;
    let stream = user_stream(&app, &email).await;
    without_triggers(&app).await;
    app.sql_both(&format!(
        "UPDATE audit_events SET payload = replace(payload, 'bidder', 'enterprise') \
         WHERE stream = '{stream}' AND stream_seq = 1"
    ))
    .await;
    let report = verify(&app, &auditor).await;
    assert_eq!(report["valid"], false);
    assert_eq!(invalid(&report), (stream, 1, "hash_mismatch".into()));
}

#[actix_web::test]
async fn a_deleted_middle_event_is_found_as_a_gap() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let email = history(&app).await;
    let stream = user_stream(&app, &email).await;
    without_triggers(&app).await;
    app.sql_both(&format!(
        "DELETE FROM audit_events WHERE stream = '{stream}' AND stream_seq = 3"
    ))
    .await;
    let report = verify(&app, &auditor).await;
    assert_eq!(invalid(&report), (stream, 3, "gap".into()));
}

#[actix_web::test]
async fn events_deleted_after_a_checkpoint_are_found_as_truncation() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let email = history(&app).await;
    let stream = user_stream(&app, &email).await;
    checkpoint(&app, &auditor).await;
    let r = app
        .get(
            &format!("/api/v1/audit/events?stream={stream}&per_page=100"),
            Some(&auditor),
        )
        .await;
    let last = r.json()["total"].as_i64().unwrap();
    without_triggers(&app).await;
    // Cut the stream's last two events, and make the head table agree, as an insider would.
    app.sql_both(&format!(
        "DELETE FROM audit_events WHERE stream = '{stream}' AND stream_seq >= {}",
        last - 1
    ))
    .await;
    app.sql_both(&format!(
        "UPDATE audit_heads SET seq = {n}, hash = (SELECT hash FROM audit_events WHERE stream = '{stream}' AND stream_seq = {n}) \
         WHERE stream = '{stream}'",
        n = last - 2
    ))
    .await;
    let report = verify(&app, &auditor).await;
    assert_eq!(
        invalid(&report),
        (stream, last - 1, "truncated_after_checkpoint".into())
    );
}

/// Rewrites a stream from `from_seq` on with a changed payload and recomputes every hash,
/// exactly as someone with database access but without the signing key could.
async fn forge_stream(app: &TestApp, stream: &str, from_seq: i64) {
    use asset_exchange::audit::chain;
    let s = stream.to_string();
    let events = app
        .db()
        .run(move |c| asset_exchange::store::audit::stream_events(c, &s))
        .await
        .unwrap();
    let mut prev = if from_seq == 1 {
        chain::GENESIS_HASH.to_string()
    } else {
        events[from_seq as usize - 2].hash.clone()
    };
    for e in events.iter().filter(|e| e.stream_seq >= from_seq) {
        let mut body = e.body();
        if e.stream_seq == from_seq {
            body.payload = body.payload.replace("bidder", "enterprise");
        }
        body.prev_hash = prev.clone();
        let hash = chain::hash(&body);
        app.sql_both(&format!(
            "UPDATE audit_events SET payload = '{}', prev_hash = '{}', hash = '{}' WHERE id = {}",
            body.payload.replace('\'', "''"),
            body.prev_hash,
            hash,
            e.id
        ))
        .await;
        prev = hash;
    }
    app.sql_both(&format!(
        "UPDATE audit_heads SET hash = '{prev}' WHERE stream = '{stream}'"
    ))
    .await;
}

#[actix_web::test]
async fn a_rehashed_forged_chain_contradicts_the_signed_checkpoint() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let email = history(&app).await;
    let stream = user_stream(&app, &email).await;
    let cp = checkpoint(&app, &auditor).await;
    without_triggers(&app).await;
    forge_stream(&app, &stream, 1).await;
    let report = verify(&app, &auditor).await;
    let (s, seq, reason) = invalid(&report);
    assert_eq!(
        (s.as_str(), reason.as_str()),
        (stream.as_str(), "checkpoint_mismatch")
    );
    assert!(seq >= 1);
    // Adding a checkpoint over the forged heads without the key does not help: the forger
    // cannot sign it.
    let forged_sig = "A".repeat(86) + "==";
    app.sql_both(&format!(
        "INSERT INTO audit_checkpoints (id, created_at, streams, events, root, heads, key_id, signature) \
         SELECT id + 1, created_at, streams, events, root, '[]', key_id, '{forged_sig}' FROM audit_checkpoints WHERE id = {}",
        cp["id"]
    ))
    .await;
    let report = verify(&app, &auditor).await;
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["reason"] == "bad_signature"
                && p["stream_seq"] == cp["id"].as_i64().unwrap() + 1),
        "{report}"
    );
}

#[actix_web::test]
async fn verification_through_the_cli_agrees_with_the_api() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let email = history(&app).await;
    let stream = user_stream(&app, &email).await;
    checkpoint(&app, &auditor).await;
    let run = |app: &TestApp| {
        std::process::Command::new(env!("CARGO_BIN_EXE_asset-exchange"))
            .args(["audit", "verify"])
            .env("APP_ENV", "test")
            .env(
                "APP_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env("DATABASE_URL", &app.settings.database.url)
            .env("APP__AUDIT__SIGNING_KEY", AUDIT_SIGNING_KEY)
            .output()
            .unwrap()
    };
    let out = run(&app);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true);
    without_triggers(&app).await;
    app.sql_both(&format!(
        "DELETE FROM audit_events WHERE stream = '{stream}' AND stream_seq = 2"
    ))
    .await;
    let out = run(&app);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(invalid(&report), (stream, 2, "gap".into()));
}

pub fn offline_verify(path: &std::path::Path, key: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_asset-exchange"))
        .args(["audit", "verify", "--file"])
        .arg(path)
        .args(["--public-key", key])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

/// Two rounds of history, each followed by a checkpoint; then the whole trail's JSONL
/// export and the exchange's public key.
async fn signed_export(app: &TestApp, auditor: &str) -> (Vec<u8>, String) {
    history(app).await;
    checkpoint(app, auditor).await;
    history(app).await;
    checkpoint(app, auditor).await;
    let r = app
        .get("/api/v1/audit/export?format=jsonl", Some(auditor))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let key = app.get("/api/v1/audit/public-key", None).await.json()["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    (r.body, key)
}

#[actix_web::test]
async fn an_export_verifies_offline_and_any_changed_byte_is_rejected() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let (export, key) = signed_export(&app, &auditor).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.jsonl");
    std::fs::write(&path, &export).unwrap();
    let out = offline_verify(&path, &key);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Flip single bytes across every record line (the header line is informational only).
    let header_end = export.iter().position(|&b| b == b'\n').unwrap() + 1;
    let positions: Vec<usize> = (header_end..export.len())
        .step_by(97)
        .filter(|&i| export[i] != b'\n')
        .collect();
    assert!(positions.len() > 10);
    for i in positions {
        let mut changed = export.clone();
        changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
        std::fs::write(&path, &changed).unwrap();
        let out = offline_verify(&path, &key);
        assert!(!out.status.success(), "a change at byte {i} went unnoticed");
    }
    // A key that did not sign the checkpoints is not trusted.
    std::fs::write(&path, &export).unwrap();
    let other =
        asset_exchange::audit::checkpoint::AuditSigner::from_seed([9; 32]).public_key_base64();
    assert!(!offline_verify(&path, &other).status.success());
}

#[actix_web::test]
async fn csv_export_has_one_row_per_event() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    history(&app).await;
    let before = app.audit_count(None).await;
    let r = app
        .get("/api/v1/audit/export?format=csv", Some(&auditor))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.starts_with("id,stream,stream_seq"));
    // Payloads contain commas and quotes, so count records by their leading id.
    let rows = text
        .lines()
        .skip(1)
        .filter(|l| {
            l.split(',')
                .next()
                .is_some_and(|c| c.parse::<i64>().is_ok())
        })
        .count();
    // Every event, and the export's own record, written before its first byte.
    assert_eq!(rows as i64, before + 1);
    assert!(text.contains("audit.exported"));
    assert_eq!(app.audit_count(Some("audit.exported")).await, 1);
    app.get("/api/v1/audit/export?format=xml", Some(&auditor))
        .await
        .assert_problem(400, "invalid_query");
}

/// The newest stream-heads checkpoint, as JSON (the same path serves the log's signed note
/// as text by default).
async fn latest_json(app: &TestApp, token: &str) -> crate::helpers::Resp {
    app.raw(
        "GET",
        "/api/v1/audit/checkpoints/latest",
        &[
            ("authorization", &format!("Bearer {token}")),
            ("accept", "application/json"),
        ],
        Vec::new(),
    )
    .await
}

#[actix_web::test]
async fn the_scheduler_signs_checkpoints_only_when_something_changed() {
    let app = spawn_app_with(|s| s.audit.checkpoint_interval_seconds = 1).await;
    let (_, auditor) = app.staff("auditor").await;
    let mut latest = Value::Null;
    for _ in 0..40 {
        let r = latest_json(&app, &auditor).await;
        if r.status == 200 {
            latest = r.json();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(latest["id"].is_i64(), "no checkpoint within 4 s");
    assert!(latest["signature"].as_str().unwrap().len() > 80);
    // Let the scheduler catch up with the sign-in above, then change nothing for more
    // than a period: no new checkpoint.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let latest = latest_json(&app, &auditor).await.json();
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let again = latest_json(&app, &auditor).await.json();
    assert_eq!(again["id"], latest["id"]);
}

/// The report the offline verifier printed.
fn offline_report(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[actix_web::test]
async fn an_export_rebuilds_the_log_offline_and_catches_a_cut_or_reordered_log() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let (export, key) = signed_export(&app, &auditor).await;
    let export = String::from_utf8(export).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.jsonl");
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        offline_report(&offline_verify(&path, &key))
    };
    let lines: Vec<&str> = export.lines().collect();
    let leaves: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with(r#"{"type":"log_leaf""#))
        .collect();
    let notes = lines
        .iter()
        .filter(|l| l.starts_with(r#"{"type":"log_checkpoint""#))
        .count();
    let events = lines
        .iter()
        .filter(|l| l.starts_with(r#"{"type":"event""#))
        .count();
    assert!(notes >= 2 && leaves.len() >= 10, "{notes} {}", leaves.len());
    let report = check(&export);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["log_size"], leaves.len());
    assert_eq!(report["log_checkpoints_checked"], notes);
    assert!(leaves.len() <= events);

    // The log cut back below its newest signed checkpoint.
    let cut: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !leaves[leaves.len() - 3..].contains(i))
        .map(|(_, l)| *l)
        .collect();
    let report = check(&(cut.join("\n") + "\n"));
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_invalid"]["stream"], "log");
    assert_eq!(report["first_invalid"]["reason"], "log_rolled_back");

    // Two events logged in another order (indexes kept): the signed root no longer holds.
    let (a, b) = (leaves[0], leaves[1]);
    let event_of = |l: &str| {
        let v: Value = serde_json::from_str(l).unwrap();
        (v["stream"].clone(), v["stream_seq"].clone())
    };
    let (ea, eb) = (event_of(lines[a]), event_of(lines[b]));
    assert_ne!(ea, eb);
    let swapped: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (s, q) = match i {
                i if i == a => &eb,
                i if i == b => &ea,
                _ => return l.to_string(),
            };
            format!(
                r#"{{"type":"log_leaf","index":{},"stream":{s},"stream_seq":{q}}}"#,
                if i == a { 0 } else { 1 }
            )
        })
        .collect();
    let report = check(&(swapped.join("\n") + "\n"));
    assert_eq!(report["valid"], false);
    assert_eq!(
        report["first_invalid"]["reason"], "bad_log_root",
        "{report}"
    );
}

/// The whole trail's exports built in memory (as the endpoint built them before it streamed),
/// at `now`.
async fn built_exports(app: &TestApp, now: chrono::DateTime<chrono::Utc>) -> (String, String) {
    use asset_exchange::audit::export;
    let db = app.db().clone();
    actix_web::web::block(move || {
        (
            export::jsonl(&db, now, None, None, |_| true).unwrap(),
            export::csv(&db, None, |_| true).unwrap(),
        )
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn the_streamed_export_is_the_export_built_in_memory_and_verifies() {
    use asset_exchange::audit::export;
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    for _ in 0..3 {
        history(&app).await;
    }
    checkpoint(&app, &auditor).await;
    history(&app).await;
    // Built after each request: the export records itself before its first byte.
    let r = app
        .get("/api/v1/audit/export?format=jsonl", Some(&auditor))
        .await;
    let (built, _) = built_exports(&app, chrono::Utc::now()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let streamed = String::from_utf8(r.body).unwrap();
    // The same bytes but for the time the header gives.
    let (built_header, built_rest) = built.split_once('\n').unwrap();
    let (header, rest) = streamed.split_once('\n').unwrap();
    assert_eq!(rest, built_rest);
    let without_time = |h: &str| {
        let mut v: Value = serde_json::from_str(h).unwrap();
        v["exported_at"] = Value::Null;
        v
    };
    assert_eq!(without_time(header), without_time(built_header));
    assert!(rest.contains("\"type\":\"log_leaf\""));
    let keys = app.state().audit_keys.clone();
    let report = export::verify_jsonl(&streamed, keys).unwrap();
    assert!(report.valid, "{:?}", report.first_invalid);
    assert!(report.events_checked > 10 && report.log_size == report.events_checked);

    let r = app
        .get("/api/v1/audit/export?format=csv", Some(&auditor))
        .await;
    let (_, built_csv) = built_exports(&app, chrono::Utc::now()).await;
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8(r.body).unwrap(), built_csv);
    assert_eq!(app.audit_count(Some("audit.exported")).await, 2);
}

#[actix_web::test]
async fn an_export_is_written_in_bounded_chunks_with_its_end_kept_back() {
    use asset_exchange::audit::export;
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    for _ in 0..4 {
        history(&app).await;
    }
    checkpoint(&app, &auditor).await;
    let now = chrono::Utc::now();
    let (built, _) = built_exports(&app, now).await;
    let longest = built.lines().map(str::len).max().unwrap() + 1;
    let db = app.db().clone();
    const CHUNK: usize = 512;
    let (chunks, tail) = actix_web::web::block(move || {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut send = |c: Vec<u8>| {
            chunks.push(c);
            Ok(())
        };
        let mut out = export::Out::new(CHUNK, &mut send);
        export::write_jsonl(&db, now, None, None, |_| true, &mut out).unwrap();
        let tail = out.finish();
        (chunks, tail)
    })
    .await
    .unwrap();
    // Handed on as it is written, never more than a chunk and a line at a time, and the
    // end (at least the last line) kept back until the export is complete.
    assert!(
        chunks.len() * CHUNK >= built.len() / 2,
        "{} chunks",
        chunks.len()
    );
    for c in &chunks {
        assert!(c.len() >= CHUNK && c.len() < CHUNK + longest, "{}", c.len());
    }
    assert!(!tail.is_empty() && tail.ends_with(b"\n"));
    let mut all = chunks.concat();
    all.extend_from_slice(&tail);
    assert_eq!(String::from_utf8(all).unwrap(), built);
}

/// `verify_db`'s report, its single pass in id order, and the verification in (stream, seq)
/// order, computed off the async runtime.
async fn three_ways(app: &TestApp) -> (Value, Option<Value>, Value) {
    use asset_exchange::audit;
    let db = app.db().clone();
    let keys = app.state().audit_keys.clone();
    tokio::task::spawn_blocking(move || {
        let full = audit::verify_db(&db, keys.clone()).unwrap();
        let cps = db.run_blocking(audit::checkpoints).unwrap();
        let fast = audit::onepass::verify(&db, &keys, &cps, &[]).unwrap();
        let slow = audit::verify_by_stream(&db, keys, &cps, &[]).unwrap();
        let fast = fast.map(|(mut report, log)| {
            log.add_to(&mut report);
            serde_json::to_value(report).unwrap()
        });
        let json = |r| serde_json::to_value(r).unwrap();
        (json(full), fast, json(slow))
    })
    .await
    .unwrap()
}

/// The single pass cut into at most `readers` parts of at least two leaves each, read at
/// once on several connections, as `verify_db` cuts a large trail.
async fn in_parts(app: &TestApp, readers: usize) -> Option<Value> {
    use asset_exchange::audit;
    let db = app.db().clone();
    let keys = app.state().audit_keys.clone();
    tokio::task::spawn_blocking(move || {
        let cps = db.run_blocking(audit::checkpoints).unwrap();
        audit::onepass::verify_in_parts(&db, &keys, &cps, &[], readers, 2)
            .unwrap()
            .map(|(mut report, log)| {
                log.add_to(&mut report);
                serde_json::to_value(report).unwrap()
            })
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn an_honest_trail_is_proved_in_one_pass_with_the_ordered_report_and_damage_is_not() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let (email, _) = app.signed_in("bidder").await;
    // Streams written at once interleave in the table.
    let logins = (0..6).map(|_| app.login(&email, PASSWORD));
    let regs = (0..6).map(|_| app.register(json!({})));
    futures_util::future::join(
        futures_util::future::join_all(logins),
        futures_util::future::join_all(regs),
    )
    .await;
    checkpoint(&app, &auditor).await;
    history(&app).await;
    let (full, fast, slow) = three_ways(&app).await;
    assert_eq!(slow["valid"], true, "{slow}");
    assert!(slow["events_checked"].as_u64().unwrap() > 20, "{slow}");
    assert_eq!(
        fast.as_ref(),
        Some(&slow),
        "the single pass must prove this trail"
    );
    assert_eq!(full, slow);
    for readers in 2..=4 {
        assert_eq!(
            in_parts(&app, readers).await,
            Some(slow.clone()),
            "{readers}"
        );
    }

    // A damaged event: the pass proves nothing and the report is the ordered one.
    let stream = user_stream(&app, &email).await;
    without_triggers(&app).await;
    app.sql_both(&format!(
        "UPDATE audit_events SET payload = replace(payload, 'bidder', 'enterprise') \
         WHERE stream = '{stream}' AND stream_seq = 1"
    ))
    .await;
    let (full, fast, slow) = three_ways(&app).await;
    assert_eq!(invalid(&slow), (stream, 1, "hash_mismatch".into()));
    assert_eq!(fast, None);
    assert_eq!(full, slow);
    for readers in 2..=4 {
        assert_eq!(in_parts(&app, readers).await, None, "{readers}");
    }
}

#[actix_web::test]
async fn the_parts_of_the_single_pass_prove_what_one_pass_proves_and_each_finds_damage() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    for _ in 0..4 {
        app.signed_in("bidder").await;
    }
    checkpoint(&app, &auditor).await;
    history(&app).await;
    let (_, _, slow) = three_ways(&app).await;
    assert_eq!(slow["valid"], true, "{slow}");
    for readers in 1..=4 {
        assert_eq!(
            in_parts(&app, readers).await,
            Some(slow.clone()),
            "{readers}"
        );
    }
    // A second checkpoint, so the first one's root is due inside the log, not at its end.
    history(&app).await;
    checkpoint(&app, &auditor).await;
    // An event written without its log leaf, after the last logged one: the first reader
    // sees it follow the last leaf's event, whichever way the log is cut.
    let db = app.db().clone();
    let unlogged = tokio::task::spawn_blocking(move || {
        use asset_exchange::audit::chain::{self, EventBody, GENESIS_HASH};
        let body = EventBody {
            stream: "probe:unlogged".into(),
            stream_seq: 1,
            occurred_at: chain::truncate(chrono::Utc::now()),
            actor_id: None,
            actor_role: None,
            action: "probe.written".into(),
            payload: "{}".into(),
            client_ip: None,
            request_id: None,
            prev_hash: GENESIS_HASH.into(),
        };
        let hash = chain::hash(&body);
        db.tx_blocking(|c| asset_exchange::store::audit::insert_event(c, &body, &hash))
            .unwrap()
    })
    .await
    .unwrap();
    for readers in 1..=4 {
        assert_eq!(in_parts(&app, readers).await, None, "{readers}");
    }
    without_triggers(&app).await;
    app.sql_both(&format!("DELETE FROM audit_events WHERE id = {unlogged}"))
        .await;
    assert_eq!(
        in_parts(&app, 2).await.map(|r| r["valid"].clone()),
        Some(json!(true))
    );
    app.sql(
        "ALTER TABLE audit_log_checkpoints DISABLE TRIGGER USER;",
        "DROP TRIGGER audit_log_checkpoints_no_update;",
    )
    .await;
    // The first signed root replaced by the second: the tree at the first size no longer
    // has it, whichever part that size falls in.
    app.sql_both(
        "UPDATE audit_log_checkpoints SET root = (SELECT root FROM audit_log_checkpoints \
         WHERE tree_size = (SELECT max(tree_size) FROM audit_log_checkpoints)) \
         WHERE tree_size = (SELECT min(tree_size) FROM audit_log_checkpoints)",
    )
    .await;
    for readers in 1..=4 {
        assert_eq!(in_parts(&app, readers).await, None, "{readers}");
    }
    let (full, _, slow) = three_ways(&app).await;
    assert_eq!(slow["first_invalid"]["reason"], "bad_log_root", "{slow}");
    assert_eq!(full, slow);
    // The newest event, which the last part reads: each cut finds it.
    app.sql_both(
        "UPDATE audit_events SET request_id = 'forged' \
         WHERE id = (SELECT max(id) FROM audit_events)",
    )
    .await;
    for readers in 1..=4 {
        assert_eq!(in_parts(&app, readers).await, None, "{readers}");
    }
    let (full, _, slow) = three_ways(&app).await;
    assert_eq!(slow["valid"], false, "{slow}");
    assert_eq!(full, slow);
}

/// A reader beside an open snapshot sees that snapshot on PostgreSQL, and on SQLite at least
/// what it holds (the pass bounds its reads by what the first reader saw).
#[actix_web::test]
async fn a_reader_beside_a_snapshot_sees_what_the_snapshot_holds() {
    use asset_exchange::error::AppError;
    use asset_exchange::store::{self, Backend, Conn};
    use diesel::connection::SimpleConnection;
    use diesel::{QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    fn count(c: &mut Conn) -> Result<i64, AppError> {
        let q = diesel::sql_query("SELECT count(*) AS n FROM beside_probe");
        let row: N = asset_exchange::with_conn!(c, c => q.get_result(c))?;
        Ok(row.n)
    }
    let app = spawn_app().await;
    app.sql_both("CREATE TABLE beside_probe (n BIGINT); INSERT INTO beside_probe VALUES (1);")
        .await;
    let db = app.db().clone();
    let backend = db.backend();
    let (before, beside, after) = tokio::task::spawn_blocking(move || {
        db.snapshot_blocking(|c| {
            let before = count(c)?;
            let shared = store::share_snapshot(c)?;
            // Another connection writes after the snapshot was taken.
            db.tx_blocking(|w| {
                asset_exchange::with_conn!(w, w => w.batch_execute("INSERT INTO beside_probe VALUES (2)"))?;
                Ok(())
            })?;
            let beside = db
                .beside_snapshot_blocking(&shared, count)
                .expect("an idle connection")?;
            Ok((before, beside, count(c)?))
        })
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!((before, after), (1, 1));
    match backend {
        Backend::Postgres => assert_eq!(beside, 1),
        Backend::Sqlite => assert_eq!(beside, 2),
    }
}
