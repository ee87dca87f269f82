//! The bid path's cost in SQL statements: an accepted bid reads each row once and writes what
//! it must, a retry reads its remembered answer, a refusal that needs no lock stops early.

use serde_json::json;

use crate::auctions::{bid, key, ready_for_auction};
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
    // The scheduler, the mail worker and the feeds would add statements of their own.
    app.stop_jobs().await;
    app.clock.advance(chrono::Duration::seconds(5));
    // The first bid also starts the auction (status and event).
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);

    // Outbidding someone: the session; then in one transaction the listing with its auction
    // and registration (read once, also to pick the bidding method), the auction under its
    // lock, the retry check, the listing again under the lock, the bid, the auction's
    // standing, the remembered key, the audit event (log head, stream head, event, stream
    // head, log nodes, log head), the outbid bidder with their account, the mail, and on
    // PostgreSQL the notification to other instances; BEGIN and COMMIT. The receipt is
    // signed from the event the transaction wrote, with nothing read back.
    let k = key();
    let (n, r) = statements_of(&app, || bid(&app, id, &b[1], "10050000", &k)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let pg = app.settings.database.url.starts_with("postgres");
    // Issue 14's target of 12 is not met yet.
    let want = if pg { 19 } else { 18 };
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
}
