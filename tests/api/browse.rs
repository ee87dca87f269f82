//! The public browse's fast paths: keyset paging with a cursor next to `page`, a total that is
//! only counted when it must be, and title search through the trigram indexes.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::listings::{Cast, approved_with, cast, in_secs};

/// Ids of a page's items, in order.
fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

async fn public(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/api/v1/listings{query}"), None).await;
    assert_eq!(
        r.status,
        200,
        "{query}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

/// `n` public listings titled `title i`, oldest first; their ids.
async fn listings(app: &TestApp, c: &Cast, title: &str, n: usize) -> Vec<i64> {
    let end = in_secs(3600);
    let mut out = Vec::new();
    for i in 0..n {
        let body = json!({"title": format!("{title} {i}")});
        out.push(approved_with(app, c, body, &end).await);
    }
    out
}

#[actix_web::test]
async fn a_cursor_walks_the_same_pages_as_page_numbers_and_stays_put_when_listings_arrive() {
    // Counts are kept for an hour here, so that the test sees the kept one.
    let app = spawn_app_with(|s| s.browse.count_cache_seconds = 3600).await;
    let c = cast(&app).await;
    let made = listings(&app, &c, "福州市某厂房转让", 5).await;
    let newest_first: Vec<i64> = made.iter().rev().copied().collect();

    let first = public(&app, "?per_page=2").await;
    assert_eq!(ids(&first), newest_first[..2]);
    assert_eq!(
        (first["page"].as_i64(), first["total"].as_i64()),
        (Some(1), Some(5))
    );
    assert_eq!(
        first["total_exact"], true,
        "counted for this answer: {first}"
    );
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(cursor, format!("2.{}", newest_first[1]));

    let second = public(&app, &format!("?per_page=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), newest_first[2..4]);
    assert_eq!(second["page"], 2);
    assert_eq!(ids(&second), ids(&public(&app, "?per_page=2&page=2").await));
    let third = public(
        &app,
        &format!(
            "?per_page=2&cursor={}",
            second["next_cursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(ids(&third), newest_first[4..]);
    assert_eq!(third["next_cursor"], Value::Null, "the last page");
    assert_eq!(third["total"], 5);

    // A new listing shifts page numbers by one, not a cursor; the kept count says so.
    let newer = listings(&app, &c, "厦门市某仓库转让", 1).await[0];
    let again = public(&app, "?per_page=2").await;
    assert_eq!(ids(&again), vec![newer, newest_first[0]]);
    assert_eq!(again["total"], 5, "the count kept from before: {again}");
    assert_eq!(again["total_exact"], false);
    let by_cursor = public(&app, &format!("?per_page=2&cursor={cursor}")).await;
    assert_eq!(ids(&by_cursor), newest_first[2..4]);
    let by_page = public(&app, "?per_page=2&page=2").await;
    assert_eq!(ids(&by_page), newest_first[1..3]);
    // A last page reached by number knows its total without counting.
    let all = public(&app, "?per_page=10").await;
    assert_eq!(
        (all["total"].as_i64(), all["total_exact"].as_bool()),
        (Some(6), Some(true))
    );
    assert_eq!(all["next_cursor"], Value::Null);
    // Past the end: no items, and the total is still the number of matches.
    let past = public(&app, "?per_page=2&page=9").await;
    assert_eq!((ids(&past).len(), past["total"].as_i64()), (0, Some(5)));

    for bad in [
        format!("?cursor={cursor}&page=2"),
        "?cursor=abc".to_string(),
        "?cursor=1.5".to_string(),
        "?cursor=2.-5".to_string(),
        "?cursor=%2B2.5".to_string(),
    ] {
        app.get(&format!("/api/v1/listings{bad}"), None)
            .await
            .assert_problem(400, "invalid_query");
    }
}

#[actix_web::test]
async fn without_a_kept_count_every_page_that_is_not_the_last_counts_afresh() {
    let app = spawn_app_with(|s| s.browse.count_cache_seconds = 0).await;
    let c = cast(&app).await;
    listings(&app, &c, "某办公楼转让", 3).await;
    assert_eq!(public(&app, "?per_page=2").await["total"], 3);
    listings(&app, &c, "某商铺转让", 1).await;
    let page = public(&app, "?per_page=2").await;
    assert_eq!(
        (page["total"].as_i64(), page["total_exact"].as_bool()),
        (Some(4), Some(true))
    );
}

#[actix_web::test]
async fn title_search_finds_substrings_of_any_length_in_any_case() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let end = in_secs(3600);
    let mut made = Vec::new();
    for title in [
        "福州市鼓楼区厂房转让",
        "厦门市办公楼及厂房转让",
        "Fuzhou Port Logistics Co. 100% equity",
        "某公司50%_股权\"转让\"",
    ] {
        made.push(approved_with(&app, &c, json!({"title": title}), &end).await);
    }
    let hits = |q: &'static str| {
        let app = &app;
        async move {
            let mut found = ids(&public(app, &format!("?q={}", urlencode(q))).await);
            found.sort_unstable();
            found
        }
    };
    // Two characters (shorter than a trigram) and three or more find the same titles.
    assert_eq!(hits("厂房").await, vec![made[0], made[1]]);
    assert_eq!(hits("厂房转让").await, vec![made[0], made[1]]);
    assert_eq!(hits("鼓楼区厂房").await, vec![made[0]]);
    assert_eq!(hits("port logistics").await, vec![made[2]]);
    assert_eq!(hits("PORT LOG").await, vec![made[2]]);
    assert_eq!(hits("100%").await, vec![made[2]]);
    assert_eq!(hits("50%_").await, vec![made[3]]);
    assert_eq!(hits("\"转让\"").await, vec![made[3]]);
    assert_eq!(
        hits("厂房 转让").await,
        Vec::<i64>::new(),
        "a substring, not words"
    );
    assert_eq!(hits("仓库").await, Vec::<i64>::new());
    // A retitled draft is found by its new title only.
    let id = crate::listings::draft(&app, &c.owner, json!({"title": "旧标题的仓库"})).await["id"]
        .as_i64()
        .unwrap();
    let r = app
        .patch(
            &format!("/api/v1/listings/{id}"),
            Some(&c.owner),
            &json!({"title": "新标题的车辆"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let own = |q: &'static str| {
        let app = &app;
        let token = c.owner.clone();
        async move {
            let r = app
                .get(
                    &format!("/api/v1/listings?q={}", urlencode(q)),
                    Some(&token),
                )
                .await;
            ids(&r.json())
        }
    };
    assert_eq!(own("旧标题的").await, Vec::<i64>::new());
    assert_eq!(own("新标题的").await, vec![id]);
}

/// Percent-encodes every byte but ASCII letters and digits.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[actix_web::test]
async fn a_public_page_with_a_kept_count_is_one_statement() {
    let mut app = spawn_app_with(|s| s.browse.count_cache_seconds = 3600).await;
    let c = cast(&app).await;
    listings(&app, &c, "某市仓库转让", 3).await;
    // The scheduler, the mail worker and the feeds would add statements of their own.
    app.stop_jobs().await;
    // The first page counts (and keeps the count); seller names come with the listings.
    let before = app.statements();
    let first = public(&app, &format!("?per_page=2&q={}", urlencode("仓库"))).await;
    assert_eq!((first["total"].as_i64(), ids(&first).len()), (Some(3), 2));
    assert_eq!(
        first["items"][0]["seller"]["name"],
        first["items"][1]["seller"]["name"]
    );
    assert!(
        first["items"][0]["seller"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert_eq!(app.statements() - before, 2, "the page and the count");
    // The same filter again: the kept count, one statement.
    let before = app.statements();
    let again = public(&app, &format!("?per_page=2&q={}", urlencode("仓库"))).await;
    assert_eq!(ids(&again), ids(&first));
    assert_eq!(app.statements() - before, 1, "the page alone");
}
