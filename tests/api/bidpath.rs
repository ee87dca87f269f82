//! The bid path's cost in SQL statements: an accepted bid reads each row once and writes what
//! it must, a retry reads its remembered answer, a refusal that needs no lock stops early.

use serde_json::json;

use crate::auctions::{bid, key, scheduled};
use crate::helpers::{TestApp, spawn_app};
use crate::listings::cast;

/// Statements run on the app's database while `f` runs (no background job is running).
async fn statements_of<F, Fut, T>(app: &TestApp, f: F) -> (u64, T)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let before = app.statements();
    let out = f().await;
    (app.statements() - before, out)
}

#[actix_web::test]
async fn an_accepted_bid_costs_a_fixed_handful_of_statements() {
    let mut app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = scheduled(&app, &c, 2, json!({})).await;
    // The scheduler, the mail worker and the feeds would add statements of their own.
    app.stop_jobs().await;
    app.clock.advance(chrono::Duration::seconds(5));
    // The first bid also starts the auction (status and event).
    let first_key = key();
    let first = bid(&app, id, &b[0], "10000000", &first_key).await;
    assert_eq!(first.status, 201);

    // Outbidding someone: the session; then in one transaction the listing with its auction
    // and registration (read once, also to pick the bidding method), the auction under its
    // lock, the listing again under the lock, the bid with the auction's standing and the
    // remembered key, the outbid bidder with their account, the mail, on PostgreSQL the
    // notification to other instances, and the audit event last (the log's lock with the
    // stream head, then event, stream head, log nodes and log head); BEGIN and COMMIT.
    // PostgreSQL writes the bid's three rows in one statement and the event's four in
    // another; SQLite, with no round trip to save, writes them one by one. The receipt is
    // signed from the event the transaction wrote, with nothing read back.
    let k = key();
    let (n, r) = statements_of(&app, || bid(&app, id, &b[1], "10050000", &k)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let pg = app.settings.database.url.starts_with("postgres");
    // Issue 14's target is 12.
    let want = if pg { 13 } else { 17 };
    assert!(
        n <= want,
        "{n} statements for an accepted bid (at most {want})"
    );

    // The same request again: the session and the remembered bid after the early refusal.
    let (n, r) = statements_of(&app, || bid(&app, id, &b[1], "10050000", &k)).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("idempotent-replayed").as_deref(), Some("true"));
    // (and the receipt of the remembered bid)
    assert!(n <= 7, "{n} statements for a replayed bid");

    // A bid at a price someone holds is refused before the lock.
    let low = key();
    let (n, r) = statements_of(&app, || bid(&app, id, &b[0], "10050000", &low)).await;
    r.assert_problem(409, "bid_too_low");
    assert!(n <= 6, "{n} statements for an early refusal");

    // The first key again with an amount that would win now: the key is found only when the
    // bid is written (an accepted bid does not look it up first); that write is rolled back
    // and the answer is the first bid, as for any retry.
    let r = bid(&app, id, &b[0], "10200000", &first_key).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(r.json()["seq"], first.json()["seq"]);
    assert_eq!(r.json()["amount"], first.json()["amount"]);
    let auction = app
        .get(&format!("/api/v1/listings/{id}/auction"), Some(&c.operator))
        .await
        .json();
    assert_eq!(auction["bid_count"], 2, "{auction}");
}

/// Copies of one request sent at once (a client retrying on a timeout): one bid, and every
/// copy answered with it, whichever of them won the lock and wherever the others were told.
#[actix_web::test]
async fn copies_of_one_bid_sent_at_once_place_it_once_and_all_get_it() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = scheduled(&app, &c, 2, json!({})).await;
    app.clock.advance(chrono::Duration::seconds(5));
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);
    let k = key();
    let copies =
        futures_util::future::join_all((0..8).map(|_| bid(&app, id, &b[1], "10050000", &k))).await;
    let ids: Vec<_> = copies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            r.json()["id"].clone()
        })
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let replayed = copies
        .iter()
        .filter(|r| r.header("idempotent-replayed").as_deref() == Some("true"))
        .count();
    assert_eq!(replayed, 7);
    let auction = app
        .get(&format!("/api/v1/listings/{id}/auction"), Some(&c.operator))
        .await
        .json();
    assert_eq!(auction["bid_count"], 2, "{auction}");
}
