//! The sealed one-time bid (一次报价): one bid per eligible bidder in the window, nothing
//! about any amount visible to anyone before the close (every endpoint that could tell, the
//! live stream, the trail, the report, open data and the mails), then one opening that
//! reveals every bid at once and decides the winner (a right-holder wins a tie), decided
//! once with two app instances running.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auctions::{bid, key, wait_status};
use crate::helpers::{TestApp, spawn_app_with, spawn_sibling};
use crate::listings::{Cast, approved_with, cast, in_secs};

/// Amounts no other figure of the listing contains, so a leak is a substring.
const LOW: &str = "10111100";
const MID: &str = "10222200";
const TOP: &str = "10333300";

/// An eligible bidder of a listing: its token, registration id and bidder code.
pub struct Eligible {
    pub token: String,
    pub registration: i64,
    pub code: String,
}

/// Registers, qualifies (with the pre-emptive right where `rights[i]`) and confirms the
/// deposit of one bidder per entry of `rights`.
pub async fn eligible(app: &TestApp, c: &Cast, id: i64, rights: &[bool]) -> Vec<Eligible> {
    let mut out = Vec::new();
    for right in rights {
        let (_, token) = app.verified_bidder().await;
        let reg = app
            .post(
                &format!("/api/v1/listings/{id}/registrations"),
                Some(&token),
                &json!({}),
            )
            .await
            .json();
        let rid = reg["id"].as_i64().unwrap();
        let r = app
            .post(
                &format!("/api/v1/registrations/{rid}/review"),
                Some(&c.operator),
                &json!({"decision": "qualify", "preemptive_right": right}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["preemptive_right"], *right);
        let code = r.json()["bidder_code"].as_str().unwrap().to_string();
        let r = app
            .post(
                &format!("/api/v1/registrations/{rid}/deposit"),
                Some(&c.operator),
                &json!({"action": "confirm", "reference": "P"}),
            )
            .await;
        assert_eq!(r.json()["deposit_status"], "paid");
        out.push(Eligible {
            token,
            registration: rid,
            code,
        });
    }
    out
}

/// A listing with `overrides` whose disclosure has ended (through the sandbox clock) with
/// the given bidders, and its auction scheduled to start two seconds later.
pub async fn scheduled(
    app: &TestApp,
    c: &Cast,
    admin: &str,
    overrides: Value,
    rights: &[bool],
) -> (i64, Vec<Eligible>) {
    let id = approved_with(app, c, overrides, &in_secs(600)).await;
    let bidders = eligible(app, c, id, rights).await;
    app.advance(admin, chrono::Duration::seconds(601)).await;
    let starts_at = (app.now() + chrono::Duration::seconds(2)).to_rfc3339();
    let operator = app.token(&c.emails[1]).await;
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&operator),
            &json!({"starts_at": starts_at}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    app.advance(admin, chrono::Duration::seconds(3)).await;
    (id, bidders)
}

/// An app whose tokens outlive the sandbox clock's moves in these tests.
pub async fn long_tokens() -> TestApp {
    spawn_app_with(|s| s.auth.access_token_ttl_seconds = 86_400).await
}

fn sealed_listing() -> Value {
    json!({"bidding_method": "sealed", "preemption": "in_auction",
           "free_bidding_seconds": 600, "countdown_seconds": 60})
}

/// Every mail queued so far, subject and bodies.
async fn all_mail(app: &TestApp) -> Vec<(String, String)> {
    let rows = app.outbox().await.into_iter();
    rows.map(|n| {
        (
            n.kind,
            format!("{}\n{}\n{}", n.subject, n.body_text, n.body_html),
        )
    })
    .collect()
}

fn assert_no_amount(what: &str, body: &str) {
    for amount in [LOW, MID, TOP] {
        assert!(
            !body.contains(amount),
            "{what} tells the sealed amount {amount}: {body}"
        );
    }
}

async fn body_of(app: &TestApp, path: &str, token: Option<&str>) -> String {
    let r = app.get(path, token).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    String::from_utf8_lossy(&r.body).to_string()
}

/// The first bytes of the live stream (its replay: the current state).
async fn stream_head(app: &TestApp, id: i64) -> String {
    use futures_util::StreamExt;
    let path = app.url(&format!("/api/v1/listings/{id}/auction/events"));
    let mut resp = app.client.get(path).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut text = String::new();
    while !text.contains("event: closed") && !text.contains("event: phase") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.next())
            .await
            .expect("the stream answers")
            .expect("a chunk")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

/// Reads everything anyone could read about the auction and asserts no amount is told.
async fn nothing_leaks(app: &TestApp, c: &Cast, id: i64, other_bidder: &str) {
    let operator = app.token(&c.emails[1]).await;
    let auditor = app.token(&c.emails[2]).await;
    let owner = app.token(&c.emails[0]).await;
    let viewers = [
        ("the public", None),
        ("the enterprise", Some(owner.as_str())),
        ("an operator", Some(operator.as_str())),
        ("an auditor", Some(auditor.as_str())),
        ("another bidder", Some(other_bidder)),
    ];
    for (who, token) in viewers {
        let a = app
            .get(&format!("/api/v1/listings/{id}/auction"), token)
            .await
            .json();
        assert_eq!(a["phase"], "sealed", "{who}: {a}");
        assert_eq!(a["bidding_method"], "sealed");
        assert_eq!(a["bid_count"], 5, "{who}");
        assert!(a["current_price"].is_null(), "{who}: {a}");
        assert!(a["leading_bidder_code"].is_null(), "{who}: {a}");
        let bids = app
            .get(&format!("/api/v1/listings/{id}/bids"), token)
            .await
            .json();
        assert_eq!(bids, json!([]), "{who} sees bids before the opening");
        for path in [
            format!("/api/v1/listings/{id}"),
            format!("/api/v1/listings/{id}/auction"),
            format!("/api/v1/listings/{id}/bids"),
            format!("/api/v1/listings/{id}/deal"),
            format!("/api/v1/listings/{id}/registrations"),
            format!("/listings/{id}"),
            "/".to_string(),
            "/api/v1/me/notifications".to_string(),
            "/api/v1/me/registrations".to_string(),
        ] {
            let r = app.get(&path, token).await;
            assert_no_amount(
                &format!("{path} for {who}"),
                &String::from_utf8_lossy(&r.body),
            );
        }
    }
    for path in [
        format!("/api/v1/audit/events?listing_id={id}&per_page=100"),
        format!("/api/v1/audit/export?listing_id={id}&format=jsonl"),
        format!("/api/v1/audit/export?listing_id={id}&format=csv"),
        format!("/api/v1/audit/listings/{id}/report"),
        format!("/api/v1/audit/listings/{id}/report?format=html"),
        format!("/api/v1/audit/alerts?listing_id={id}"),
    ] {
        let body = body_of(app, &path, Some(&auditor)).await;
        assert_no_amount(&path, &body);
    }
    let project_no = app
        .get(&format!("/api/v1/listings/{id}"), None)
        .await
        .json()["project_no"]
        .as_str()
        .unwrap()
        .to_string();
    let ocds = body_of(app, &format!("/api/v1/ocds/records/{project_no}"), None).await;
    assert_no_amount("the OCDS record", &ocds);
    let metrics = app.get("/metrics", None).await;
    assert_no_amount("the metrics", &String::from_utf8_lossy(&metrics.body));
    let head = stream_head(app, id).await;
    assert!(head.contains("\"phase\":\"sealed\""), "{head}");
    assert!(!head.contains("event: bid"), "{head}");
    assert_no_amount("the live stream", &head);
    for (kind, body) in all_mail(app).await {
        assert_no_amount(&format!("a mail of kind {kind}"), &body);
    }
}

fn commitment_of(listing_id: i64, code: &str, amount: &str, nonce: &str) -> String {
    let bytes = format!("asset-exchange/sealed-bid/v1\n{listing_id}\n{code}\n{amount}\n{nonce}\n");
    hex::encode(Sha256::digest(bytes.as_bytes()))
}

async fn submit(app: &TestApp, id: i64, b: &Eligible, amount: &str) -> Value {
    let r = bid(app, id, &b.token, amount, &key()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[actix_web::test]
async fn a_sealed_auction_tells_nothing_before_its_opening_and_a_right_holder_wins_the_tie() {
    let app = long_tokens().await;
    let c = cast(&app).await;
    let (_, admin, _) = app.staff_account("admin").await;
    let rights = [false, false, false, true, false];
    let (id, b) = scheduled(&app, &c, &admin, sealed_listing(), &rights).await;

    // Below the listing price: refused. Then one bid each; B and C tie with the
    // right-holder D at the top, B first.
    bid(&app, id, &b[0].token, "9999999.99", &key())
        .await
        .assert_problem(409, "bid_too_low");
    let k = key();
    let first = bid(&app, id, &b[0].token, LOW, &k).await;
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let first = first.json();
    let again = bid(&app, id, &b[0].token, LOW, &k).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json()["commitment"], first["commitment"]);
    bid(&app, id, &b[0].token, MID, &key())
        .await
        .assert_problem(409, "already_bid");
    let answers = [
        first,
        submit(&app, id, &b[1], TOP).await,
        submit(&app, id, &b[2], TOP).await,
        submit(&app, id, &b[3], TOP).await,
        submit(&app, id, &b[4], MID).await,
    ];
    commitments_in_the_trail(&app, &c, id, &b, &answers).await;
    // A bidder sees its own bid, and only its own.
    let own = app
        .get(&format!("/api/v1/listings/{id}/bids"), Some(&b[4].token))
        .await
        .json();
    assert_eq!(own.as_array().unwrap().len(), 1, "{own}");
    assert_eq!(own[0]["amount"], format!("{MID}.00"));
    assert_eq!(own[0]["commitment"], answers[4]["commitment"]);

    let (_, stranger) = app.verified_bidder().await;
    nothing_leaks(&app, &c, id, &stranger).await;

    // The window closes: the scheduler opens every bid at once.
    app.advance(&admin, chrono::Duration::seconds(600)).await;
    bid(&app, id, &stranger, TOP, &key())
        .await
        .assert_problem(409, "auction_closed");
    assert_eq!(wait_status(&app, id, "awarded").await["status"], "awarded");
    bid(&app, id, &b[1].token, "10444400", &key())
        .await
        .assert_problem(409, "auction_closed");
    opened_as_decided(&app, &c, id, &b, &answers).await;
}

/// Each answer's commitment is over its canonical bytes, and the trail has every commitment
/// from the submission on (and no amount).
async fn commitments_in_the_trail(
    app: &TestApp,
    c: &Cast,
    id: i64,
    b: &[Eligible],
    answers: &[Value],
) {
    for (a, who) in answers.iter().zip(b) {
        let commitment = a["commitment"].as_str().unwrap();
        assert_eq!(commitment.len(), 64);
        let amount = a["amount"].as_str().unwrap();
        let nonce = a["nonce"].as_str().unwrap();
        assert_eq!(commitment, commitment_of(id, &who.code, amount, nonce));
        assert_eq!(a["bidder_code"], who.code.as_str());
    }
    // The commitment is in the trail from the submission on; the amount is not.
    let auditor = app.token(&c.emails[2]).await;
    let events = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action=bid.sealed&per_page=100"),
            Some(&auditor),
        )
        .await
        .json();
    let trail: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["commitment"].as_str().unwrap())
        .collect();
    let committed: Vec<&str> = answers
        .iter()
        .map(|a| a["commitment"].as_str().unwrap())
        .collect();
    assert_eq!(trail, committed);
}

/// After the opening: every bid in the history in the order placed, the right-holder the
/// winner of the tie, the trail's amounts and nonces matching the commitments, deposits
/// settled as for an English auction, and `opened` on the live stream.
async fn opened_as_decided(app: &TestApp, c: &Cast, id: i64, b: &[Eligible], answers: &[Value]) {
    let bids = app
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    let seen: Vec<(i64, String, String)> = bids
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["seq"].as_i64().unwrap(),
                x["bidder_code"].as_str().unwrap().to_string(),
                x["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(i64, String, String)> = [LOW, TOP, TOP, TOP, MID]
        .iter()
        .zip(b)
        .zip(1..)
        .map(|((a, who), seq)| (seq, who.code.clone(), format!("{a}.00")))
        .collect();
    assert_eq!(seen, want);
    let a = app
        .get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json();
    assert_eq!(a["phase"], "closed");
    assert_eq!(a["current_price"], format!("{TOP}.00"));
    assert_eq!(a["leading_bidder_code"], b[3].code.as_str());
    let operator = app.token(&c.emails[1]).await;
    let deal = app
        .get(&format!("/api/v1/listings/{id}/deal"), Some(&operator))
        .await
        .json();
    assert_eq!(deal["winner_bidder_code"], b[3].code.as_str());
    assert_eq!(deal["price"], format!("{TOP}.00"));
    assert_eq!(deal["method"], "auction");

    opening_is_verifiable(app, c, id, b, answers).await;
}

/// The trail's amounts and nonces match the commitments; deposits are settled; the live
/// stream tells `opened` before `closed`; the trail verifies; the OCDS record validates.
async fn opening_is_verifiable(
    app: &TestApp,
    c: &Cast,
    id: i64,
    b: &[Eligible],
    answers: &[Value],
) {
    let operator = app.token(&c.emails[1]).await;
    let auditor = app.token(&c.emails[2]).await;
    let events = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action=auction.opened"),
            Some(&auditor),
        )
        .await
        .json();
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
    let revealed = events["items"][0]["payload"]["bids"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(revealed.len(), 5);
    for (r, answer) in revealed.iter().zip(answers) {
        let code = r["bidder_code"].as_str().unwrap();
        let amount = r["amount"].as_str().unwrap();
        let nonce = r["nonce"].as_str().unwrap();
        assert_eq!(r["commitment"], answer["commitment"]);
        assert_eq!(
            answer["commitment"].as_str().unwrap(),
            commitment_of(id, code, amount, nonce)
        );
    }
    let regs = app
        .get(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&operator),
        )
        .await
        .json();
    let items = regs
        .get("items")
        .and_then(Value::as_array)
        .or_else(|| regs.as_array())
        .unwrap()
        .clone();
    for r in items {
        let want = if r["id"] == b[3].registration {
            "paid" // the winner's deposit waits for the contract
        } else {
            "refunded"
        };
        assert_eq!(r["deposit_status"], want, "{r}");
    }
    let head = stream_head(app, id).await;
    let opened = head.find("event: opened").expect("an opened event");
    let closed = head.find("event: closed").expect("a closed event");
    assert!(opened < closed, "{head}");
    assert!(head.contains(&format!("{TOP}.00")), "{head}");
    let verify = app.get("/api/v1/audit/verify", Some(&auditor)).await.json();
    assert_eq!(verify["valid"], true, "{verify}");
    let tender = ocds_record(app, id).await;
    assert_eq!(
        tender["tender"]["submissionMethod"],
        json!(["electronicSubmission"])
    );
    let criteria = tender["tender"]["awardCriteriaDetails"].as_str().unwrap();
    assert!(criteria.contains("优先购买权人优先"), "{criteria}");
    assert_eq!(tender["bids"]["details"].as_array().unwrap().len(), 5);
}

/// The listing's OCDS record, validated against OCDS 1.1 (with and without the bids
/// extension); returns its compiled release.
pub async fn ocds_record(app: &TestApp, id: i64) -> Value {
    let project_no = app
        .get(&format!("/api/v1/listings/{id}"), None)
        .await
        .json()["project_no"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .get(&format!("/api/v1/ocds/records/{project_no}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let record = r.json();
    crate::ocds::validate(&crate::ocds::Ocds::both(), &record);
    record["records"][0]["compiledRelease"].clone()
}

#[actix_web::test]
async fn the_opening_is_decided_once_with_two_app_instances_running() {
    let app = long_tokens().await;
    let c = cast(&app).await;
    let (_, admin, _) = app.staff_account("admin").await;
    let (id, b) = scheduled(&app, &c, &admin, sealed_listing(), &[false, false, true]).await;
    // A second instance on the same database (its mail would go to its own stub: it starts
    // once every account is verified).
    let sibling = spawn_sibling(&app, |_| {}).await;
    submit(&app, id, &b[0], TOP).await;
    // The sibling follows the sandbox clock on its next tick; then it takes bids too.
    let mut accepted = None;
    for _ in 0..50 {
        let r = bid(&sibling, id, &b[1].token, MID, "sibling-bid").await;
        if r.status == 201 {
            accepted = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted.is_some(), "the sibling never took the bid");
    submit(&sibling, id, &b[2], TOP).await;
    app.advance(&admin, chrono::Duration::seconds(600)).await;
    assert_eq!(wait_status(&app, id, "awarded").await["status"], "awarded");
    assert_eq!(
        wait_status(&sibling, id, "awarded").await["status"],
        "awarded"
    );
    // Both schedulers ran past the close: one opening, one close, one award.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.audit_count(Some("auction.opened")).await, 1);
    assert_eq!(app.audit_count(Some("auction.closed")).await, 1);
    assert_eq!(app.audit_count(Some("deal.awarded")).await, 1);
    let bids = sibling
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    assert_eq!(bids.as_array().unwrap().len(), 3, "{bids}");
    let a = app
        .get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json();
    // The right-holder bid the same top amount later and wins the tie.
    assert_eq!(a["leading_bidder_code"], b[2].code.as_str());
    assert_eq!(a["bid_count"], 3);
}

#[actix_web::test]
async fn the_pre_emptive_right_belongs_to_equity_transfers_and_to_listings_that_honour_it() {
    let app = long_tokens().await;
    let c = cast(&app).await;
    let r = app
        .post(
            "/api/v1/listings",
            Some(&c.owner),
            &crate::listings::listing(
                json!({"kind": "asset_transfer", "preemption": "in_auction"}),
            ),
        )
        .await;
    r.assert_problem(422, "preemption_not_allowed");
    let id = approved_with(&app, &c, json!({"bidding_method": "sealed"}), &in_secs(600)).await;
    let listing = app
        .get(&format!("/api/v1/listings/{id}"), None)
        .await
        .json();
    assert_eq!(listing["bidding_method"], "sealed");
    assert_eq!(listing["preemption"], "none");
    let (_, token) = app.verified_bidder().await;
    let reg = app
        .post(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&token),
            &json!({}),
        )
        .await
        .json();
    let path = format!("/api/v1/registrations/{}/review", reg["id"]);
    app.post(
        &path,
        Some(&c.operator),
        &json!({"decision": "qualify", "preemptive_right": true}),
    )
    .await
    .assert_problem(422, "preemption_not_offered");
    app.post(
        &path,
        Some(&c.operator),
        &json!({"decision": "reject", "comment": "x", "preemptive_right": true}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // Nothing changed: the registration is still pending.
    let r = app
        .post(&path, Some(&c.operator), &json!({"decision": "qualify"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["preemptive_right"], false);
}

#[actix_web::test]
async fn a_sealed_auction_without_bids_fails_and_sends_no_bid_to_the_stream() {
    let app = long_tokens().await;
    let c = cast(&app).await;
    let (_, admin, _) = app.staff_account("admin").await;
    let (id, _) = scheduled(&app, &c, &admin, sealed_listing(), &[false, false]).await;
    let a = app
        .get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json();
    assert_eq!(a["phase"], "sealed");
    assert_eq!(a["bid_count"], 0);
    app.advance(&admin, chrono::Duration::seconds(600)).await;
    assert_eq!(wait_status(&app, id, "failed").await["status"], "failed");
    assert_eq!(app.audit_count(Some("auction.opened")).await, 1);
    let bids = app
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    assert_eq!(bids, json!([]));
}
