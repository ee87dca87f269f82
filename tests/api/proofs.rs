//! Trust without trusting the exchange: the transparency log's proofs checked by an
//! implementation written here from RFC 6962's recursive definitions (not the code under
//! test), public signed-note checkpoints, the witness, the rollback attack with the signing
//! key in the attacker's hands, bid receipts and the reconciliation of the business tables.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auctions::{bid, key, ready_for_auction};
use crate::helpers::{AUDIT_SIGNING_KEY, TestApp, spawn_app, spawn_app_with};
use crate::listings::cast;

type H = [u8; 32];

// ---- the independent implementation (RFC 6962 §2.1, recursive, from the definitions) ----

fn leaf_of(event_hash_hex: &str) -> H {
    let raw = hex::decode(event_hash_hex).unwrap();
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(&raw);
    h.finalize().into()
}

fn node(l: &H, r: &H) -> H {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(leaves: &[H]) -> H {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = k_of(n);
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The root an audit path leads to (PATH(m, D[n]) read backwards), if it has the right length.
fn root_from_path(m: usize, n: usize, leaf: H, proof: &[H]) -> Option<H> {
    if n == 1 {
        return proof.is_empty().then_some(leaf);
    }
    let k = k_of(n);
    let (last, rest) = proof.split_last()?;
    Some(if m < k {
        node(&root_from_path(m, k, leaf, rest)?, last)
    } else {
        node(last, &root_from_path(m - k, n - k, leaf, rest)?)
    })
}

/// The (old, new) roots a consistency proof leads to (SUBPROOF(m, D[n], b) read backwards).
fn roots_from_subproof(m: usize, n: usize, whole: bool, old: H, proof: &[H]) -> Option<(H, H)> {
    if m == n {
        return if whole {
            proof.is_empty().then_some((old, old))
        } else {
            match proof {
                [x] => Some((*x, *x)),
                _ => None,
            }
        };
    }
    let k = k_of(n);
    let (last, rest) = proof.split_last()?;
    if m <= k {
        let (o, nw) = roots_from_subproof(m, k, whole, old, rest)?;
        Some((o, node(&nw, last)))
    } else {
        let (o, nw) = roots_from_subproof(m - k, n - k, false, old, rest)?;
        Some((node(last, &o), node(last, &nw)))
    }
}

fn consistent(m: usize, n: usize, old: H, new: H, proof: &[H]) -> bool {
    if m == n {
        return proof.is_empty() && old == new;
    }
    roots_from_subproof(m, n, true, old, proof) == Some((old, new))
}

fn hashes(v: &Value) -> Vec<H> {
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

/// A signed note parsed by hand: (origin, size, root, signature lines).
fn parse_note(text: &str) -> (String, usize, H, Vec<String>) {
    let (body, sigs) = text.split_once("\n\n").expect("a blank line");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let root: H = STANDARD.decode(lines[2]).unwrap().try_into().unwrap();
    (
        lines[0].to_string(),
        lines[1].parse().unwrap(),
        root,
        sigs.lines().map(str::to_owned).collect(),
    )
}

/// Checks the log's signature line on a note with the raw public key (C2SP signed-note).
fn note_signed_by(text: &str, key: &VerifyingKey) -> bool {
    let (body, _) = text.split_once("\n\n").unwrap();
    let body = format!("{body}\n");
    let (origin, _, _, sigs) = parse_note(text);
    let mut kh = Sha256::new();
    kh.update(origin.as_bytes());
    kh.update(b"\n\x01");
    kh.update(key.as_bytes());
    let kh = kh.finalize();
    sigs.iter().any(|line| {
        let Some(rest) = line.strip_prefix(&format!("\u{2014} {origin} ")) else {
            return false;
        };
        let blob = STANDARD.decode(rest).unwrap();
        blob[..4] == kh[..4]
            && key
                .verify(body.as_bytes(), &Signature::from_slice(&blob[4..]).unwrap())
                .is_ok()
    })
}

async fn public_key(app: &TestApp) -> VerifyingKey {
    let v = app.get("/api/v1/audit/public-key", None).await.json();
    let raw = STANDARD.decode(v["public_key"].as_str().unwrap()).unwrap();
    VerifyingKey::from_bytes(&raw.try_into().unwrap()).unwrap()
}

async fn sign_now(app: &TestApp, auditor: &str) {
    let r = app
        .post("/api/v1/audit/checkpoints", Some(auditor), &json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

async fn latest_note(app: &TestApp) -> String {
    let r = app.get("/api/v1/audit/checkpoints/latest", None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    String::from_utf8(r.body).unwrap()
}

/// Every event's (id, hash), by id (the order events were appended to the log).
async fn all_events(app: &TestApp, auditor: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for page in 1.. {
        let v = app
            .get(
                &format!("/api/v1/audit/events?per_page=100&page={page}"),
                Some(auditor),
            )
            .await
            .json();
        let items = v["items"].as_array().unwrap();
        out.extend(items.iter().map(|e| {
            (
                e["id"].as_i64().unwrap(),
                e["hash"].as_str().unwrap().to_string(),
            )
        }));
        if items.len() < 100 {
            break;
        }
    }
    out
}

/// Adds `n` events straight through the audit module, as any write would.
async fn add_events(app: &TestApp, n: usize) {
    let now = app.now();
    app.db()
        .run(move |c| {
            for i in 0..n {
                asset_exchange::audit::record(
                    c,
                    now,
                    asset_exchange::audit::Event {
                        stream: format!("test:{}", i % 7),
                        action: "test.filled",
                        actor: asset_exchange::audit::Actor::SYSTEM,
                        payload: json!({"i": i}),
                        meta: &Default::default(),
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

#[actix_web::test]
async fn proofs_for_every_size_to_300_verify_independently() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let have = app.audit_count(None).await as usize;
    add_events(&app, 300 - have).await;
    let events = all_events(&app, &auditor).await;
    assert_eq!(events.len(), 300);
    let leaves: Vec<H> = events.iter().map(|(_, h)| leaf_of(h)).collect();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = |below: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % below as u64) as usize
    };
    for n in 1..=300usize {
        let root = mth(&leaves[..n]);
        let m = rand(n);
        let p = app
            .get(
                &format!("/api/v1/audit/events/{}/proof?tree_size={n}", events[m].0),
                Some(&auditor),
            )
            .await;
        assert_eq!(p.status, 200, "{}", String::from_utf8_lossy(&p.body));
        let p = p.json();
        assert_eq!(p["leaf_index"], m);
        assert_eq!(p["tree_size"], n);
        assert_eq!(p["leaf_hash"], hex::encode(leaves[m]));
        assert_eq!(
            root_from_path(m, n, leaves[m], &hashes(&p)),
            Some(root),
            "inclusion of {m} in {n}"
        );
        let old = rand(n) + 1;
        let c = app
            .get(
                &format!("/api/v1/audit/consistency?from={old}&to={n}"),
                None,
            )
            .await
            .json();
        assert!(
            consistent(old, n, mth(&leaves[..old]), root, &hashes(&c)),
            "consistency {old} -> {n}: {c}"
        );
        // And a proof does not pass for a tree it is not of.
        if n > 2 && old < n {
            assert!(!consistent(
                old,
                n,
                mth(&leaves[..old]),
                mth(&leaves[..n - 1]),
                &hashes(&c)
            ));
        }
    }
    // The signed checkpoint's root is the tree's root, signed by the public key.
    sign_now(&app, &auditor).await;
    let note = latest_note(&app).await;
    let (origin, size, root, _) = parse_note(&note);
    assert_eq!(origin, "asset-exchange.example/audit-log");
    assert_eq!(size, 300);
    assert_eq!(root, mth(&leaves));
    assert!(note_signed_by(&note, &public_key(&app).await));
    let again = app.get("/api/v1/audit/checkpoints/300", None).await;
    assert_eq!(String::from_utf8(again.body).unwrap(), note);
    app.get("/api/v1/audit/checkpoints/299", None)
        .await
        .assert_problem(404, "not_found");
    app.get("/api/v1/audit/consistency?from=3&to=100000", None)
        .await
        .assert_problem(400, "invalid_query");
}

// ---- the rollback attack ----

const WITNESS_SEED: [u8; 32] = [42; 32];

fn witness_pub() -> String {
    let k = ed25519_dalek::SigningKey::from_bytes(&WITNESS_SEED);
    STANDARD.encode(k.verifying_key().as_bytes())
}

fn run_witness(app: &TestApp, dir: &std::path::Path) -> std::process::Output {
    let key = dir.join("witness.key");
    std::fs::write(&key, STANDARD.encode(WITNESS_SEED)).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_asset-exchange"))
        .args(["witness", "--once", "--name", "w1", "--log", &app.address])
        .arg("--key")
        .arg(&key)
        .arg("--state")
        .arg(dir.join("state"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn verify_against(app: &TestApp, saved: &std::path::Path) -> (Option<i32>, Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_asset-exchange"))
        .args(["audit", "verify", "--checkpoint"])
        .arg(saved)
        .env("APP_ENV", "test")
        .env(
            "APP_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("DATABASE_URL", &app.settings.database.url)
        .env("APP__AUDIT__SIGNING_KEY", AUDIT_SIGNING_KEY)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

fn problems(report: &Value) -> Vec<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["stream"].as_str().unwrap().to_string(),
                p["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The attacker holds the database and the signing key: cut the newest events, rebuild the
/// log from what is left with the exchange's own code, delete the log's checkpoints and let
/// the service sign again.
async fn roll_back(app: &TestApp, keep_events_upto: i64) {
    app.sql(
        "ALTER TABLE audit_events DISABLE TRIGGER USER; ALTER TABLE audit_log_nodes DISABLE TRIGGER USER; \
         ALTER TABLE audit_log_checkpoints DISABLE TRIGGER USER; ALTER TABLE audit_log_cosignatures DISABLE TRIGGER USER;",
        "DROP TRIGGER audit_events_no_delete; DROP TRIGGER audit_log_nodes_no_delete; \
         DROP TRIGGER audit_log_checkpoints_no_delete; DROP TRIGGER audit_log_cosignatures_no_delete;",
    )
    .await;
    app.sql(
        &format!(
            "DELETE FROM audit_log_cosignatures; DELETE FROM audit_log_checkpoints; DELETE FROM audit_log_nodes; \
             UPDATE audit_log_head SET size = 0, frontier = ''::bytea; DELETE FROM audit_events WHERE id > {keep_events_upto};"
        ),
        &format!(
            "DELETE FROM audit_log_cosignatures; DELETE FROM audit_log_checkpoints; DELETE FROM audit_log_nodes; \
             UPDATE audit_log_head SET size = 0, frontier = x''; DELETE FROM audit_events WHERE id > {keep_events_upto};"
        ),
    )
    .await;
    let db = app.db().clone();
    tokio::task::spawn_blocking(move || asset_exchange::audit::log::catch_up(&db))
        .await
        .unwrap()
        .unwrap();
}

#[actix_web::test]
async fn a_rollback_with_the_signing_key_is_caught_by_the_witness_and_an_old_checkpoint() {
    let app = spawn_app_with(|s| s.audit.witnesses = format!("w1={}", witness_pub())).await;
    let (_, auditor) = app.staff("auditor").await;
    add_events(&app, 20).await;
    sign_now(&app, &auditor).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_witness(&app, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        latest_note(&app).await.contains("\n\u{2014} w1 "),
        "cosignature served"
    );
    let cut_after = all_events(&app, &auditor).await.last().unwrap().0;
    add_events(&app, 15).await;
    sign_now(&app, &auditor).await;
    let out = run_witness(&app, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A client keeps the newest checkpoint it saw.
    let saved_note = latest_note(&app).await;
    let (_, saved_size, saved_root, _) = parse_note(&saved_note);
    let saved = dir.path().join("saved.checkpoint");
    std::fs::write(&saved, &saved_note).unwrap();
    let (status, report) = verify_against(&app, &saved);
    assert_eq!(status, Some(0), "{report}");

    roll_back(&app, cut_after).await;
    sign_now(&app, &auditor).await; // the service signs the smaller log: nothing it signed contradicts it
    let out = run_witness(&app, dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ROLLBACK"),
        "{out:?}"
    );
    let (status, report) = verify_against(&app, &saved);
    assert_eq!(status, Some(1));
    assert!(
        problems(&report).contains(&("log".into(), "log_rolled_back".into())),
        "{report}"
    );

    // The attacker grows the rewritten log past the saved size: now it is a fork.
    add_events(&app, 30).await;
    sign_now(&app, &auditor).await;
    let out = run_witness(&app, dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FORK"),
        "{out:?}"
    );
    let (_, report) = verify_against(&app, &saved);
    assert!(
        problems(&report).contains(&("log".into(), "log_inconsistent".into())),
        "{report}"
    );
    // Any client holding the old checkpoint sees it too: no consistency proof can hold.
    let (_, new_size, new_root, sigs) = parse_note(&latest_note(&app).await);
    assert!(
        sigs.iter().all(|l| !l.contains(" w1 ")),
        "the witness did not cosign"
    );
    let c = app
        .get(
            &format!("/api/v1/audit/consistency?from={saved_size}&to={new_size}"),
            None,
        )
        .await
        .json();
    assert!(!consistent(
        saved_size,
        new_size,
        saved_root,
        new_root,
        &hashes(&c)
    ));
    app.get(&format!("/api/v1/audit/checkpoints/{saved_size}"), None)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn the_signer_refuses_a_log_that_no_longer_extends_its_checkpoint() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    add_events(&app, 10).await;
    sign_now(&app, &auditor).await;
    // Rewrite the log under the surviving checkpoint, keeping the checkpoint.
    app.sql(
        "ALTER TABLE audit_log_nodes DISABLE TRIGGER USER; ALTER TABLE audit_events DISABLE TRIGGER USER; \
         DELETE FROM audit_log_nodes; UPDATE audit_log_head SET size = 0, frontier = ''::bytea; \
         UPDATE audit_events SET hash = md5(hash) || md5(hash) WHERE id = (SELECT min(id) FROM audit_events);",
        "DROP TRIGGER audit_log_nodes_no_delete; DROP TRIGGER audit_events_no_update; \
         DELETE FROM audit_log_nodes; UPDATE audit_log_head SET size = 0, frontier = x''; \
         UPDATE audit_events SET hash = substr(hash, 2) || '0' WHERE id = (SELECT min(id) FROM audit_events);",
    )
    .await;
    let db = app.db().clone();
    tokio::task::spawn_blocking(move || asset_exchange::audit::log::catch_up(&db))
        .await
        .unwrap()
        .unwrap();
    add_events(&app, 2).await;
    app.post("/api/v1/audit/checkpoints", Some(&auditor), &json!({}))
        .await
        .assert_problem(409, "log_inconsistent");
}

// ---- cosignatures ----

#[actix_web::test]
async fn only_a_configured_witness_cosignature_is_kept() {
    let app = spawn_app_with(|s| s.audit.witnesses = format!("w1={}", witness_pub())).await;
    let (_, auditor) = app.staff("auditor").await;
    sign_now(&app, &auditor).await;
    let note = latest_note(&app).await;
    let (_, size, _, _) = parse_note(&note);
    let (body, _) = note.split_once("\n\n").unwrap();
    let body = format!("{body}\n");
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let forged = asset_exchange::audit::note::cosign_line("w1", &stranger, &body, 1);
    let url = format!("/api/v1/audit/checkpoints/{size}/cosignatures");
    app.post(&url, None, &json!({"cosignature": forged}))
        .await
        .assert_problem(422, "bad_cosignature");
    let real = ed25519_dalek::SigningKey::from_bytes(&WITNESS_SEED);
    let line = asset_exchange::audit::note::cosign_line("w1", &real, &body, 1_800_000_000);
    let r = app.post(&url, None, &json!({"cosignature": line})).await;
    assert_eq!(r.status, 201);
    assert!(latest_note(&app).await.ends_with(&line));
    app.post(
        "/api/v1/audit/checkpoints/999999/cosignatures",
        None,
        &json!({"cosignature": line}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(app.audit_count(Some("audit.cosigned")).await, 1);
}

// ---- bid receipts and reconciliation ----

/// A listing in its free bidding phase with two eligible bidders.
async fn bidding(app: &TestApp) -> (i64, Vec<String>, crate::listings::Cast) {
    let c = cast(app).await;
    let (id, b) = ready_for_auction(app, &c, 2, json!({"free_bidding_seconds": 3600})).await;
    let start = (app.now() + chrono::Duration::seconds(1)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    app.clock.advance(chrono::Duration::seconds(2));
    (id, b, c)
}

fn receipt_message(listing: i64, bid: &Value, leaf: &str) -> String {
    let placed: chrono::DateTime<chrono::Utc> = bid["placed_at"].as_str().unwrap().parse().unwrap();
    format!(
        "asset-exchange/bid-receipt/v1\n{listing}\n{}\n{}\n{}\n{}\n{leaf}\n",
        bid["seq"],
        bid["amount"].as_str().unwrap(),
        bid["bidder_code"].as_str().unwrap(),
        placed.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
}

#[actix_web::test]
async fn a_bid_receipt_verifies_with_the_public_key_and_its_proof_with_a_checkpoint() {
    let app = spawn_app().await;
    let (id, b, c) = bidding(&app).await;
    let placed = bid(&app, id, &b[0], "10000000", &key()).await;
    assert_eq!(
        placed.status,
        201,
        "{}",
        String::from_utf8_lossy(&placed.body)
    );
    let placed = placed.json();
    let receipt = &placed["receipt"];
    let leaf = receipt["leaf_hash"].as_str().unwrap();
    let key = public_key(&app).await;
    let sig = Signature::from_slice(
        &STANDARD
            .decode(receipt["signature"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let msg = receipt_message(id, &placed, leaf);
    assert!(key.verify(msg.as_bytes(), &sig).is_ok(), "{msg}");
    let higher = msg.replace("10000000.00", "10050000.00");
    assert!(key.verify(higher.as_bytes(), &sig).is_err());

    // Later: a public checkpoint, and the bidder's own proof against it.
    sign_now(&app, &c.auditor).await;
    let note = latest_note(&app).await;
    assert!(note_signed_by(&note, &key));
    let (_, size, root, _) = parse_note(&note);
    let proof_url = format!("/api/v1/audit/events/{}/proof", receipt["event_id"]);
    let p = app.get(&proof_url, Some(&b[0])).await;
    assert_eq!(p.status, 200, "{}", String::from_utf8_lossy(&p.body));
    let p = p.json();
    assert_eq!(p["tree_size"], size);
    assert_eq!(p["leaf_hash"], leaf);
    let leaf: H = hex::decode(leaf).unwrap().try_into().unwrap();
    assert_eq!(
        root_from_path(
            p["leaf_index"].as_u64().unwrap() as usize,
            size,
            leaf,
            &hashes(&p)
        ),
        Some(root)
    );
    // Another bidder may not fetch it; an auditor may; nobody signed out.
    app.get(&proof_url, Some(&b[1]))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.get(&proof_url, Some(&c.auditor)).await.status, 200);
    assert_eq!(app.get(&proof_url, None).await.status, 401);
}

#[actix_web::test]
async fn a_changed_bid_amount_is_a_state_mismatch_at_its_event() {
    let app = spawn_app().await;
    let (id, b, c) = bidding(&app).await;
    for (i, amount) in ["10000000", "10050000", "10100000"].iter().enumerate() {
        let r = bid(&app, id, &b[i % 2], amount, &key()).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let report = app
        .get("/api/v1/audit/verify", Some(&c.auditor))
        .await
        .json();
    assert_eq!(report["valid"], true, "{report}");
    let events = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action=bid.placed"),
            Some(&c.auditor),
        )
        .await
        .json();
    let second = &events["items"][1];
    assert_eq!(second["payload"]["seq"], 2);
    app.sql_both(&format!(
        "UPDATE bids SET amount = amount - 4000000 WHERE listing_id = {id} AND seq = 2"
    ))
    .await;
    let report = app
        .get("/api/v1/audit/verify", Some(&c.auditor))
        .await
        .json();
    assert_eq!(report["valid"], false);
    let first = &report["first_invalid"];
    assert_eq!(first["stream"], format!("listing:{id}"));
    assert_eq!(first["stream_seq"], second["stream_seq"]);
    assert_eq!(first["reason"], "state_mismatch");
    assert_eq!(first["table"], "bids");
    // The auditor's report shows the bid as the trail records it and marks the table.
    let r = app
        .get(
            &format!("/api/v1/audit/listings/{id}/report"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(
        r["verification"]["table_disagreeing"], "bids",
        "{}",
        r["verification"]
    );
    let shown = &r["auctions"][0]["bids"][1];
    assert_eq!(shown["seq"], 2);
    assert_eq!(shown["amount"], "10050000.00");
    assert_eq!(shown["table_amount"], "10010000.00");
}

async fn first_invalid(app: &TestApp, auditor: &str) -> Value {
    let report = app.get("/api/v1/audit/verify", Some(auditor)).await.json();
    assert_eq!(report["valid"], false, "{report}");
    report["first_invalid"].clone()
}

async fn event_seq(app: &TestApp, auditor: &str, id: i64, action: &str, nth: usize) -> Value {
    let events = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action={action}"),
            Some(auditor),
        )
        .await
        .json();
    events["items"][nth]["stream_seq"].clone()
}

#[actix_web::test]
async fn a_changed_auction_standing_or_deal_price_is_a_state_mismatch() {
    let app = spawn_app().await;
    let (id, b, mut c) = bidding(&app).await;
    for (i, amount) in ["10000000", "10050000"].iter().enumerate() {
        let r = bid(&app, id, &b[i], amount, &key()).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    // While it runs: the price must be the last bid's.
    app.sql_both(&format!(
        "UPDATE auctions SET current_price = current_price - 5000000 WHERE listing_id = {id}"
    ))
    .await;
    let first = first_invalid(&app, &c.auditor).await;
    assert_eq!(
        (&first["reason"], &first["table"]),
        (&json!("state_mismatch"), &json!("auctions"))
    );
    assert_eq!(
        first["stream_seq"],
        event_seq(&app, &c.auditor, id, "bid.placed", 1).await
    );
    app.sql_both(&format!(
        "UPDATE auctions SET current_price = current_price + 5000000 WHERE listing_id = {id}"
    ))
    .await;
    let ok = app
        .get("/api/v1/audit/verify", Some(&c.auditor))
        .await
        .json();
    assert_eq!(ok["valid"], true, "{ok}");

    // Closed and awarded: the deal's price and the auction's winner are the trail's.
    app.clock.advance(chrono::Duration::seconds(3600 + 900));
    c.renew(&app).await;
    assert_eq!(
        crate::auctions::wait_status(&app, id, "awarded").await["status"],
        "awarded"
    );
    let ok = app
        .get("/api/v1/audit/verify", Some(&c.auditor))
        .await
        .json();
    assert_eq!(ok["valid"], true, "{ok}");
    app.sql_both(&format!(
        "UPDATE deals SET price = price - 100 WHERE listing_id = {id}"
    ))
    .await;
    let first = first_invalid(&app, &c.auditor).await;
    assert_eq!(first["table"], "deals", "{first}");
    assert_eq!(
        first["stream_seq"],
        event_seq(&app, &c.auditor, id, "deal.awarded", 0).await
    );
    let r = app
        .get(
            &format!("/api/v1/audit/listings/{id}/report"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(r["verification"]["table_disagreeing"], "deals");
    app.sql_both(&format!(
        "UPDATE auctions SET leading_bidder_code = 'FORGED' WHERE listing_id = {id}"
    ))
    .await;
    let first = first_invalid(&app, &c.auditor).await;
    // The auction closed before the deal was awarded: its event comes first.
    assert_eq!(first["table"], "auctions", "{first}");
    assert_eq!(
        first["stream_seq"],
        event_seq(&app, &c.auditor, id, "auction.closed", 0).await
    );
}
