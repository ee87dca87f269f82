//! Public pages (text/html): the board, each listing's page at its stage, the 404 page for
//! what the public may not see, escaping, no personal data, caching (ETag/304), security
//! headers, the token pages, and every link of every mail the exchange sends.

use std::collections::BTreeSet;
use std::time::Duration;

use asset_exchange::domain::Clock;
use asset_exchange::notify::Kind;
use serde_json::{Value, json};

use crate::auctions::{bid, key, ready_for_auction, wait_status};
use crate::deals::{in_negotiation, step};
use crate::helpers::{PASSWORD, Resp, TestApp, spawn_app, spawn_app_with};
use crate::listings::{
    Cast, approved_with, cast, draft, eligible_bidders, in_secs, rejected_registrant,
};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The body, with the escaped slashes of attribute values (`&#x2f;`) read back.
fn html(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).replace("&#x2f;", "/")
}

/// Asserts a page: status, HTML, the security headers, a `lang`, no inline script.
fn assert_page(r: &Resp, status: u16) -> String {
    let body = html(r);
    assert_eq!(r.status, status, "{body}");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(r.header("content-security-policy").as_deref(), Some(CSP));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(
        body.contains("<html lang=\"zh-CN\">") || body.contains("<html lang=\"en\">"),
        "{body}"
    );
    // The only script is our own file; no inline script, style or event handler.
    for (i, _) in body.match_indices("<script") {
        assert!(
            body[i..].starts_with("<script src=\"/assets/pages.js\" defer></script>"),
            "{}",
            &body[i..i + 80.min(body.len() - i)]
        );
    }
    assert!(!body.contains("<style") && !body.contains(" style=") && !body.contains(" onclick="));
    body
}

/// The app's clock `secs` from now, as RFC 3339.
fn app_in(app: &TestApp, secs: i64) -> String {
    (app.clock.now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

async fn submit(app: &TestApp, c: &Cast, id: i64) {
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/submit"),
            Some(&c.owner),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", html(&r));
}

async fn review(app: &TestApp, c: &Cast, id: i64, decision: &str, end: &str) {
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/review"),
            Some(&c.operator),
            &json!({"decision": decision, "comment": "请补充评估报告", "disclosure_end": end}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", html(&r));
}

/// An auction that ran and was awarded, with two bidders (returns the id and their tokens).
async fn awarded_auction(app: &TestApp, c: &Cast, overrides: Value) -> (i64, Vec<String>) {
    let mut o = json!({"free_bidding_seconds": 1, "countdown_seconds": 2});
    if let (Some(m), Some(more)) = (o.as_object_mut(), overrides.as_object()) {
        m.extend(more.clone());
    }
    let (id, b) = ready_for_auction(app, c, 2, o).await;
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": app_in(app, 1)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert_eq!(wait_status(app, id, "bidding").await["status"], "bidding");
    assert_eq!(bid(app, id, &b[0], "10000000", &key()).await.status, 201);
    assert_eq!(bid(app, id, &b[1], "10050000", &key()).await.status, 201);
    assert_eq!(wait_status(app, id, "awarded").await["status"], "awarded");
    (id, b)
}

/// Contract, payment and announcement of an awarded deal.
async fn announce(app: &TestApp, c: &Cast, id: i64) {
    let now = app.clock.now().to_rfc3339();
    for (what, body) in [
        ("contract", json!({"signed_at": now})),
        ("payment", json!({"reference": "PAY-PAGES-1"})),
        ("announce", json!({})),
    ] {
        let r = step(app, c, id, what, body).await;
        assert_eq!(r.status, 200, "{what}: {}", html(&r));
    }
}

#[actix_web::test]
async fn the_board_shows_public_listings_by_section_with_filters_and_a_short_cache() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let open = approved_with(&app, &c, json!({"title": "杭州某国有企业厂房转让", "kind": "asset_transfer", "listing_price": "3000000", "appraised_value": "3000000", "deposit": "300000", "increment": "10000"}), &in_secs(86_400)).await;
    let equity = approved_with(
        &app,
        &c,
        json!({"title": "宁波某国有企业股权转让"}),
        &in_secs(86_400),
    )
    .await;
    let hidden = draft(&app, &c.owner, json!({"title": "草稿项目不公开"})).await["id"]
        .as_i64()
        .unwrap();
    let (sold, _) = in_negotiation(&app, &c).await;
    // Let the scheduler decide it (until then its stored status is still `disclosure`).
    for _ in 0..50 {
        if app.audit_count(Some("listing.disclosure_ended")).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let r = app.get("/", None).await;
    let body = assert_page(&r, 200);
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("public, max-age=5")
    );
    assert!(body.contains("交易公告栏") && body.contains("信息披露公告"));
    assert!(body.contains(&format!("/listings/{open}\"")), "{body}");
    assert!(body.contains(&format!("/listings/{equity}\"")));
    assert!(!body.contains("草稿项目不公开") && !body.contains(&format!("/listings/{hidden}\"")));
    // In negotiation: neither in disclosure, nor an auction, nor announced.
    assert!(!body.contains(&format!("/listings/{sold}\"")));
    let page = assert_page(&app.get(&format!("/listings/{sold}"), None).await, 200);
    assert!(page.contains("仅征集到一个合格意向受让方"), "{page}");

    // Filters: kind, price band, title.
    let body = assert_page(&app.get("/?kind=asset_transfer", None).await, 200);
    assert!(body.contains("杭州某国有企业厂房转让") && !body.contains("宁波某国有企业股权转让"));
    let body = assert_page(&app.get("/?band=large", None).await, 200);
    assert!(!body.contains("杭州某国有企业厂房转让") && body.contains("宁波某国有企业股权转让"));
    let body = assert_page(&app.get("/?band=medium", None).await, 200);
    assert!(body.contains("杭州某国有企业厂房转让") && !body.contains("宁波某国有企业股权转让"));
    let q = "/?q=%E5%AE%81%E6%B3%A2"; // 宁波
    let body = assert_page(&app.get(q, None).await, 200);
    assert!(!body.contains("杭州某国有企业厂房转让") && body.contains("宁波某国有企业股权转让"));
    // One section, paged; English.
    let body = assert_page(
        &app.get("/?section=disclosure&page=1&lang=en", None).await,
        200,
    );
    assert!(body.contains("<html lang=\"en\">") && body.contains("Disclosure notices"));
    assert!(!body.contains("Online auctions"));
    assert!(body.contains(&format!("/listings/{open}?lang=en\"")));
    let body = assert_page(&app.get("/?section=disclosure&page=2", None).await, 200);
    assert!(!body.contains("杭州某国有企业厂房转让"));
    // Nonsense filters: a 400 page, not a problem document.
    for bad in [
        "/?kind=land",
        "/?band=huge",
        "/?page=0",
        "/?min_price=1e3",
        "/?section=x",
    ] {
        let body = assert_page(&app.get(bad, None).await, 400);
        assert!(body.contains("筛选条件有误"), "{bad}");
    }
}

#[actix_web::test]
async fn the_board_and_the_browse_filter_by_the_city_of_the_sellers_supervising_body() {
    let app = spawn_app().await;
    // 西湖区 is a district of 杭州; 宁波 is another city; the third enterprise named no body
    // and is the province's own.
    let xihu = crate::province::enterprise_in(&app, "330106").await;
    let ningbo = crate::province::enterprise_in(&app, "330200").await;
    let nowhere = cast(&app).await;
    let end = in_secs(86_400);
    let hz = approved_with(
        &app,
        &xihu,
        json!({"title": "西湖区某国有企业股权转让"}),
        &end,
    )
    .await;
    let nb = approved_with(
        &app,
        &ningbo,
        json!({"title": "宁波某国有企业股权转让"}),
        &end,
    )
    .await;
    let none = approved_with(&app, &nowhere, json!({"title": "省属企业股权转让"}), &end).await;

    // The form offers the 11 cities (not the province, not the districts), as a GET form.
    let body = assert_page(&app.get("/", None).await, 200);
    assert!(
        body.contains("<select id=\"f-city\" name=\"city\">"),
        "{body}"
    );
    let cities = body.matches("<option value=\"33").count();
    assert_eq!(cities, 11, "{body}");
    assert!(
        body.contains("<option value=\"330100\">杭州市</option>"),
        "{body}"
    );
    assert!(
        !body.contains("<option value=\"330106\"") && !body.contains("<option value=\"330000\"")
    );
    for id in [hz, nb, none] {
        assert!(body.contains(&format!("/listings/{id}\"")), "{id}");
    }

    // 杭州 covers its district; 宁波 only its own; the selection is kept in the form and in
    // the section links.
    let body = assert_page(&app.get("/?city=330100", None).await, 200);
    assert!(body.contains(&format!("/listings/{hz}\"")), "{body}");
    assert!(
        !body.contains(&format!("/listings/{nb}\""))
            && !body.contains(&format!("/listings/{none}\""))
    );
    assert!(
        body.contains("<option value=\"330100\" selected>杭州市</option>"),
        "{body}"
    );
    let body = assert_page(
        &app.get("/?city=330200&section=disclosure", None).await,
        200,
    );
    assert!(
        body.contains(&format!("/listings/{nb}\"")) && !body.contains(&format!("/listings/{hz}\""))
    );
    let body = assert_page(&app.get("/?city=330300", None).await, 200);
    assert!(
        !body.contains(&format!("/listings/{hz}\""))
            && !body.contains(&format!("/listings/{nb}\""))
    );
    for bad in ["/?city=hangzhou", "/?city=990000", "/?city=110000"] {
        let body = assert_page(&app.get(bad, None).await, 400);
        assert!(body.contains("筛选条件有误"), "{bad}");
    }

    // The public JSON browse takes the same filter.
    let ids = |path: String| {
        let app = &app;
        async move {
            let r = app.get(&path, None).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let mut v: Vec<i64> = r.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_i64().unwrap())
                .collect();
            v.sort_unstable();
            v
        }
    };
    assert_eq!(
        ids("/api/v1/listings?region_code=330100".into()).await,
        [hz]
    );
    assert_eq!(
        ids("/api/v1/listings?region_code=330106".into()).await,
        [hz]
    );
    assert_eq!(
        ids("/api/v1/listings?region_code=330200".into()).await,
        [nb]
    );
    let mut all = vec![hz, nb, none];
    all.sort_unstable();
    assert_eq!(ids("/api/v1/listings?region_code=330000".into()).await, all);
    for bad in ["x", "110000"] {
        app.get(&format!("/api/v1/listings?region_code={bad}"), None)
            .await
            .assert_problem(400, "invalid_query");
    }
    // A scoped auditor of 宁波 asking for 杭州 gets nothing (its own limit still applies).
    let (_, _, nb_auditor) = app.body_auditor("330200").await;
    let r = app
        .get("/api/v1/listings?region_code=330100", Some(&nb_auditor))
        .await;
    assert_eq!(
        r.json()["items"],
        json!([]),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

#[actix_web::test]
async fn a_listing_page_follows_its_stages_from_disclosure_to_the_deal_announcement() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, bidders) = awarded_auction(
        &app,
        &c,
        json!({"title": "温州某国有企业40%股权转让", "consent_document": "浙国资〔2026〕8号"}),
    )
    .await;
    let path = format!("/listings/{id}");
    // Awarded: the auction's result, the notice; the deal is not public yet.
    let body = assert_page(&app.get(&path, None).await, 200);
    for text in [
        "温州某国有企业40%股权转让",
        "信息披露公告",
        "产权转让",
        "¥10,000,000.00",
        "¥1,000,000.00",
        "¥50,000.00",
        "20 个工作日",
        "北京时间",
        "浙国资〔2026〕8号",
        "网络竞价（自由报价 + 限时报价）",
        "如何报名",
        "出价记录",
        "¥10,050,000.00",
        "已结束",
    ] {
        assert!(body.contains(text), "awarded page lacks {text}");
    }
    assert!(
        !body.contains("成交公告</h2>"),
        "the deal is not public before the announcement"
    );
    assert!(
        !body.contains("/assets/pages.js"),
        "nothing live after the close"
    );
    let _ = bidders;
    // Announced: the deal announcement with appraised value, listing and deal price, buyer, method.
    announce(&app, &c, id).await;
    let deal = app
        .get(&format!("/api/v1/listings/{id}/deal"), None)
        .await
        .json();
    let body = assert_page(&app.get(&path, None).await, 200);
    for text in [
        "成交公告</h2>",
        "成交价",
        "¥10,050,000.00",
        "评估值",
        "挂牌价（转让底价）",
        "网络竞价",
        "（以竞买号公示）",
    ] {
        assert!(body.contains(text), "announced page lacks {text}");
    }
    assert!(body.contains(deal["winner_bidder_code"].as_str().unwrap()));
    // English.
    let body = assert_page(&app.get(&format!("{path}?lang=en"), None).await, 200);
    assert!(body.contains("Deal announcement") && body.contains("Disclosure notice"));
    assert!(body.contains(&format!("href=\"/listings/{id}\" lang=\"zh-CN\"")));
}

#[actix_web::test]
async fn a_live_auction_page_carries_the_state_for_the_script_and_for_readers_without_it() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 3600, "countdown_seconds": 300}),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": app_in(&app, 1)}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(wait_status(&app, id, "bidding").await["status"], "bidding");
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);
    let body = assert_page(&app.get(&format!("/listings/{id}"), None).await, 200);
    for text in [
        "<script src=\"/assets/pages.js\" defer></script>",
        &format!("data-events=\"/api/v1/listings/{id}/auction/events\""),
        "data-live=\"true\"",
        "data-last-seq=\"1\"",
        "自由报价期",
        "自由报价剩余",
        "role=\"timer\"",
        "<meta http-equiv=\"refresh\" content=\"15\">",
        "¥10,000,000.00",
    ] {
        assert!(body.contains(text), "live page lacks {text}");
    }
    // The countdown is computed from the server's time: about an hour of free bidding left.
    assert!(
        body.contains(">59:5") || body.contains(">1:00:00<"),
        "{body}"
    );
    // Suspended: the auction's clock stands still and the page says what was left.
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/suspend"),
            Some(&c.operator),
            &json!({"reason": "系统故障"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    let body = assert_page(&app.get(&format!("/listings/{id}"), None).await, 200);
    for text in [
        "已暂停",
        "暂停时剩余",
        "中止原因",
        "系统故障",
        "¥10,000,000.00",
    ] {
        assert!(body.contains(text), "paused page lacks {text}");
    }
    assert!(
        body.contains(">59:5") || body.contains(">1:00:00<"),
        "{body}"
    );
    assert!(
        !body.contains("/assets/pages.js"),
        "nothing moves while paused"
    );
}

#[actix_web::test]
async fn drafts_reviews_and_missing_listings_answer_the_same_404_page() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let drafted = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let submitted = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    submit(&app, &c, submitted).await;
    let returned = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    submit(&app, &c, returned).await;
    review(&app, &c, returned, "return", &in_secs(600)).await;
    let ended = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    submit(&app, &c, ended).await;
    let r = app
        .post(
            &format!("/api/v1/listings/{ended}/terminate"),
            Some(&c.operator),
            &json!({"reason": "撤回"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let missing = app.get(&format!("/listings/{}", ended + 1000), None).await;
    let expected = assert_page(&missing, 404);
    assert!(expected.contains("未找到此页面"));
    for path in [
        format!("/listings/{drafted}"),
        format!("/listings/{submitted}"),
        format!("/listings/{returned}"),
        format!("/listings/{ended}"),
        format!("/listings/{drafted}?preview=00000000000000000000000000000000"),
        "/listings/1e3".to_string(),
        "/listings/%EF%BC%91".to_string(),
        "/listings/99999999999999999999".to_string(),
    ] {
        // The owner's token changes nothing: pages do not read credentials.
        let r = app.get(&path, Some(&c.owner)).await;
        assert_eq!(assert_page(&r, 404), expected, "{path}");
    }
}

#[actix_web::test]
async fn user_text_is_escaped_and_no_personal_data_is_shown() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let evil = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";
    let (id, b) = awarded_auction(
        &app,
        &c,
        json!({"title": format!("厂房{evil}"), "description": format!("说明{evil}")}),
    )
    .await;
    announce(&app, &c, id).await;
    // A bidder with a name, organisation and phone of its own registers on a listing in
    // disclosure and is qualified.
    let open = approved_with(
        &app,
        &c,
        json!({"title": "厂房二期"}),
        &app_in(&app, 86_400),
    )
    .await;
    let (_, private) = app
        .verified_bidder_with(json!({"name": "隐私测试人", "organization_name": "隐私测试竞买有限公司", "phone": "13900001234"}))
        .await;
    let reg = app
        .post(
            &format!("/api/v1/listings/{open}/registrations"),
            Some(&private),
            &json!({}),
        )
        .await
        .json();
    let r = app
        .post(
            &format!("/api/v1/registrations/{}/review", reg["id"]),
            Some(&c.operator),
            &json!({"decision": "qualify"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let me = app.get("/api/v1/me", Some(&private)).await.json();
    let _ = &b;
    let regs = app
        .get(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&c.operator),
        )
        .await
        .json();
    let owner = app.get("/api/v1/me", Some(&c.owner)).await.json();
    for path in [
        format!("/listings/{id}"),
        format!("/listings/{open}"),
        "/".to_string(),
        format!("/?q={}", "%E5%8E%82%E6%88%BF"),
    ] {
        let body = assert_page(&app.get(&path, None).await, 200);
        assert!(
            path.ends_with(&format!("/{open}"))
                || body.contains("厂房&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"),
            "{path}: {body}"
        );
        assert!(
            !body.contains("<script>alert") && !body.contains("<img src=x"),
            "{path}"
        );
        // Who is behind a code never shows: names, e-mails, phones, credit codes.
        for secret in [
            "隐私测试人",
            "隐私测试竞买有限公司",
            "13900001234",
            me["email"].as_str().unwrap(),
            me["name"].as_str().unwrap(),
            me["organization"]["credit_code"].as_str().unwrap(),
            owner["email"].as_str().unwrap(),
            owner["organization"]["credit_code"].as_str().unwrap(),
        ] {
            assert!(!body.contains(secret), "{path} shows {secret}");
        }
        for r in regs.as_array().unwrap() {
            for field in ["organization_name", "user_name", "email", "phone"] {
                if let Some(v) = r[field].as_str().filter(|v| v.len() > 3) {
                    assert!(!body.contains(v), "{path} shows {field} {v}");
                }
            }
        }
    }
}

#[actix_web::test]
async fn listing_pages_carry_an_etag_and_answer_304_when_unchanged() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = approved_with(&app, &c, json!({}), &in_secs(86_400)).await;
    let path = format!("/listings/{id}");
    let first = app.get(&path, None).await;
    assert_page(&first, 200);
    assert_eq!(
        first.header("cache-control").as_deref(),
        Some("public, no-cache")
    );
    let etag = first.header("etag").expect("an ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    let again = app
        .raw("GET", &path, &[("if-none-match", &etag)], Vec::new())
        .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
    let weak = format!("W/{etag}, \"other\"");
    assert_eq!(
        app.raw("GET", &path, &[("if-none-match", &weak)], Vec::new())
            .await
            .status,
        304
    );
    // A change to the listing changes the page and its ETag.
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/suspend"),
            Some(&c.operator),
            &json!({"reason": "核查"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let changed = app
        .raw("GET", &path, &[("if-none-match", &etag)], Vec::new())
        .await;
    let body = assert_page(&changed, 200);
    assert!(body.contains("中止原因") && body.contains("核查"));
    assert_ne!(changed.header("etag"), Some(etag));
    // The English page is another page.
    assert_ne!(
        app.get(&format!("{path}?lang=en"), None)
            .await
            .header("etag"),
        changed.header("etag")
    );
}

#[actix_web::test]
async fn the_token_pages_send_nothing_by_themselves() {
    let app = spawn_app().await;
    let r = app
        .register(json!({"email": "pages-verify@example.com", "role": "bidder"}))
        .await;
    assert_eq!(r.status, 201, "{}", html(&r));
    let mut token = String::new();
    for _ in 0..100 {
        if let Some(m) = app
            .mailer_stub()
            .into_iter()
            .find(|m| m.to == "pages-verify@example.com")
        {
            let start = m.text.find("token=").unwrap() + 6;
            token = m.text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!token.is_empty());
    // Opening the page (as a mail scanner would, twice) does not use the token up.
    for _ in 0..2 {
        let r = app.get(&format!("/verify-email?token={token}"), None).await;
        let body = assert_page(&r, 200);
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"));
        assert!(body.contains("action=\"/api/v1/auth/verify-email\""));
        assert!(body.contains(&format!("data-token=\"{token}\"")));
        assert!(body.contains("确认我的电子邮箱") && body.contains("noindex"));
    }
    // The button's request still works afterwards: the token was never spent.
    let r = app
        .post("/api/v1/auth/verify-email", None, &json!({"token": token}))
        .await;
    assert_eq!(r.status, 204, "{}", html(&r));
    // The reset page: a new-password form wired to the confirm endpoint.
    let r = app
        .get(
            "/reset-password?token=AbCdEfGhIjKlMnOpQrStUv_-12&lang=en",
            None,
        )
        .await;
    let body = assert_page(&r, 200);
    for text in [
        "action=\"/api/v1/auth/password-reset/confirm\"",
        "autocomplete=\"new-password\"",
        "minlength=\"10\"",
        "Set a new password",
        "<html lang=\"en\">",
    ] {
        assert!(body.contains(text), "reset page lacks {text}");
    }
    // Links without a usable token.
    for path in [
        "/verify-email",
        "/verify-email?token=",
        "/reset-password?token=%3Cscript%3E",
        "/reset-password?token=short",
    ] {
        let body = assert_page(&app.get(path, None).await, 400);
        assert!(body.contains("此链接不完整"), "{path}");
        assert!(!body.contains("<script>"));
    }
    let _ = PASSWORD;
}

#[actix_web::test]
async fn the_stylesheet_and_script_are_served_with_their_types_and_an_etag() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/assets/pages.css", "text/css; charset=utf-8"),
        ("/assets/pages.js", "text/javascript; charset=utf-8"),
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type").as_deref(), Some(kind));
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        let etag = r.header("etag").unwrap();
        assert_eq!(
            app.raw("GET", path, &[("if-none-match", &etag)], Vec::new())
                .await
                .status,
            304
        );
    }
    assert_page(&app.get("/assets/secrets.toml", None).await, 404);
    assert_page(&app.get("/assets/..%2Fconfig", None).await, 404);
}

/// Every outbox row so far: (kind, recipient, text and HTML bodies).
async fn all_mail(app: &TestApp) -> Vec<(String, String, String)> {
    let rows = app.outbox().await.into_iter();
    rows.map(|n| {
        (
            n.kind,
            n.to_address,
            format!("{}\n{}", n.body_text, n.body_html),
        )
    })
    .collect()
}

/// Every http(s) link in a mail's bodies (HTML attributes unescaped).
fn links(body: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in body.match_indices("http") {
        let rest = &body[i..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|ch: char| {
                ch.is_whitespace() || matches!(ch, '"' | '<' | '>' | '\'' | '）' | '，' | '。')
            })
            .unwrap_or(rest.len());
        out.insert(rest[..end].replace("&amp;", "&"));
    }
    out
}

/// A listing in disclosure for `secs` of the app's clock, with `n` eligible bidders.
async fn disclosed(app: &TestApp, c: &Cast, overrides: Value, n: usize) -> (i64, Vec<String>) {
    let id = approved_with(app, c, overrides, &app_in(app, 600)).await;
    (id, eligible_bidders(app, c, id, n).await)
}

async fn schedule_now(app: &TestApp, c: &Cast, id: i64) {
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": app_in(app, 1)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", html(&r));
}

/// Drives listings through every stage that mails someone: under review (returned,
/// terminated), disclosure with a rejected and two qualified bidders, suspension, an auction
/// to an announced deal, an auction without bids (deposits forfeited), a negotiated deal;
/// and the account mails (welcome, verification, lockout, the login after it).
async fn walk_every_mail(app: &TestApp, c: &Cast) -> (i64, i64) {
    let ended = terminated_under_review(app, c).await;
    let id = returned_then_approved(app, c).await;
    let b = rejected_then_suspended(app, c, id).await;
    let (failed, negotiated, only, walked, wb) = more_listings(app, c).await;
    auctions_and_negotiation(app, c, [id, failed, negotiated], &only, &b).await;
    defaults(app, c, walked, &wb, negotiated).await;
    account_mails(app).await;
    (id, ended)
}

/// A listing terminated while under review.
async fn terminated_under_review(app: &TestApp, c: &Cast) -> i64 {
    let ended = draft(app, &c.owner, json!({"title": "审核中终结的项目"})).await["id"]
        .as_i64()
        .unwrap();
    submit(app, c, ended).await;
    let r = app
        .post(
            &format!("/api/v1/listings/{ended}/terminate"),
            Some(&c.operator),
            &json!({"reason": "转让方撤回"}),
        )
        .await;
    assert_eq!(r.status, 200);
    ended
}

/// A listing returned once, then approved; its previews open while under review.
async fn returned_then_approved(app: &TestApp, c: &Cast) -> i64 {
    let id = draft(app, &c.owner, json!({"title": "嘉兴某国有企业30%股权转让", "free_bidding_seconds": 1, "countdown_seconds": 2})).await["id"].as_i64().unwrap();
    submit(app, c, id).await;
    // While under review the operators' link is a preview that opens; the bare page does not.
    let base = app
        .settings
        .server
        .public_base_url
        .trim_end_matches('/')
        .to_string();
    let mut previews = 0;
    for (kind, _, body) in all_mail(app).await {
        for link in links(&body)
            .into_iter()
            .filter(|_| kind == "listing_submitted")
        {
            assert!(link.contains("?preview="), "{link}");
            let page = assert_page(&app.get(&link[base.len()..], None).await, 200);
            assert!(page.contains("预览") && page.contains("noindex"));
            previews += 1;
        }
    }
    assert!(previews >= 2, "{previews}");
    assert_page(&app.get(&format!("/listings/{id}"), None).await, 404);
    review(app, c, id, "return", &app_in(app, 600)).await;
    submit(app, c, id).await;
    review(app, c, id, "approve", &app_in(app, 600)).await;
    id
}

/// A rejected registration, two eligible bidders, a suspension and its resumption.
async fn rejected_then_suspended(app: &TestApp, c: &Cast, id: i64) -> Vec<String> {
    rejected_registrant(app, c, id).await;
    let b = eligible_bidders(app, c, id, 2).await;
    objected_then_rejected(app, c, id).await;
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/notices"),
            Some(&c.owner),
            &json!({"text": "补充说明：标的资产的权属证明已上传。", "material": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", html(&r));
    for what in ["suspend", "resume"] {
        let r = app
            .post(
                &format!("/api/v1/listings/{id}/{what}"),
                Some(&c.operator),
                &json!({"reason": "核查"}),
            )
            .await;
        assert_eq!(r.status, 200, "{what}: {}", html(&r));
    }
    b
}

/// A third bidder qualified, objected to by the seller, then rejected by the exchange.
async fn objected_then_rejected(app: &TestApp, c: &Cast, id: i64) {
    let (_, token) = app.verified_bidder().await;
    let reg = app
        .post(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&token),
            &json!({}),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let steps = [
        (
            &c.operator,
            "review",
            json!({"decision": "qualify", "comment": "资格符合"}),
        ),
        (
            &c.owner,
            "seller-opinion",
            json!({"agree": false, "comment": "与转让方存在关联"}),
        ),
        (
            &c.operator,
            "review",
            json!({"decision": "reject", "comment": "经复核不予确认"}),
        ),
    ];
    for (who, what, body) in steps {
        let r = app
            .post(
                &format!("/api/v1/registrations/{reg}/{what}"),
                Some(who),
                &body,
            )
            .await;
        assert_eq!(r.status, 200, "{what}: {}", html(&r));
    }
}

/// The listings for a failed auction, a negotiated deal, a default with a runner-up, and
/// deposits refunded and forfeited by hand.
async fn more_listings(app: &TestApp, c: &Cast) -> (i64, i64, Vec<String>, i64, Vec<String>) {
    let (failed, _) = disclosed(
        app,
        c,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 1}),
        2,
    )
    .await;
    let (negotiated, only) = disclosed(app, c, json!({}), 1).await;
    // A winner who defaults, and a runner-up who declines the offer.
    let (walked, wb) = disclosed(
        app,
        c,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 2, "runner_up_offer": true}),
        2,
    )
    .await;
    // Deposits refunded and forfeited by the operator (the listing then finds no buyer).
    let (unsold, _) = disclosed(app, c, json!({}), 2).await;
    let regs = app
        .get(
            &format!("/api/v1/listings/{unsold}/registrations"),
            Some(&c.operator),
        )
        .await
        .json();
    for (reg, action) in regs.as_array().unwrap().iter().zip(["refund", "forfeit"]) {
        let r = app
            .post(
                &format!("/api/v1/registrations/{}/deposit", reg["id"]),
                Some(&c.operator),
                &json!({"action": action}),
            )
            .await;
        assert_eq!(r.status, 200, "{action}: {}", html(&r));
    }
    (failed, negotiated, only, walked, wb)
}

/// The negotiated quote, an auction to an announced deal and one without bids.
async fn auctions_and_negotiation(
    app: &TestApp,
    c: &Cast,
    ids: [i64; 3],
    only: &[String],
    b: &[String],
) {
    let [id, failed, negotiated] = ids;
    app.clock.advance(chrono::Duration::days(40));
    assert_eq!(
        wait_status(app, negotiated, "negotiation").await["status"],
        "negotiation"
    );
    let r = app
        .post(
            &format!("/api/v1/listings/{negotiated}/quote"),
            Some(&only[0]),
            &json!({"amount": "10000000"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    schedule_now(app, c, id).await;
    schedule_now(app, c, failed).await;
    assert_eq!(wait_status(app, id, "bidding").await["status"], "bidding");
    assert_eq!(bid(app, id, &b[0], "10000000", &key()).await.status, 201);
    assert_eq!(bid(app, id, &b[1], "10050000", &key()).await.status, 201);
    assert_eq!(wait_status(app, id, "awarded").await["status"], "awarded");
    assert_eq!(wait_status(app, failed, "failed").await["status"], "failed");
    announce(app, c, id).await;
}

/// A winner who defaults and a runner-up who declines; the negotiated winner defaults too.
async fn defaults(app: &TestApp, c: &Cast, walked: i64, wb: &[String], negotiated: i64) {
    schedule_now(app, c, walked).await;
    assert_eq!(
        wait_status(app, walked, "bidding").await["status"],
        "bidding"
    );
    assert_eq!(
        bid(app, walked, &wb[0], "10000000", &key()).await.status,
        201
    );
    assert_eq!(
        bid(app, walked, &wb[1], "10050000", &key()).await.status,
        201
    );
    assert_eq!(
        wait_status(app, walked, "awarded").await["status"],
        "awarded"
    );
    let r = step(
        app,
        c,
        walked,
        "default",
        json!({"reason": "受让方未在规定期限内签订合同"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    let r = app
        .post(
            &format!("/api/v1/listings/{walked}/deal/decline"),
            Some(&wb[0]),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    // The negotiated winner defaults too, with no runner-up to offer the deal to.
    let r = step(
        app,
        c,
        negotiated,
        "default",
        json!({"reason": "受让方放弃受让"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", html(&r));
}

/// The account mails: lockout, the login after it, a new verification link, a registration
/// with an address that already has an account, a password-reset link.
async fn account_mails(app: &TestApp) {
    let (email, _) = app.signed_in("bidder").await;
    assert_eq!(app.register(json!({"email": email})).await.status, 201);
    for _ in 0..5 {
        app.login(&email, "Wrong-Passphrase-42").await;
    }
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    let t = app.login(&email, PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.post("/api/v1/auth/verify-email/resend", Some(&t), &json!({}))
            .await
            .status,
        202
    );
    assert_eq!(
        app.post(
            "/api/v1/auth/password-reset",
            None,
            &json!({"email": email})
        )
        .await
        .status,
        202
    );
}

/// Kinds the walk does not queue, rendered the way `Notifier::queue` renders them, for
/// listing `id` (which has an auction).
async fn unsent_kinds(app: &TestApp, id: i64) -> Vec<(String, String, String)> {
    use asset_exchange::notify::{Notifier, templates::Templates};
    let notifier = Notifier::new(&app.settings, crate::helpers::JWT_SECRET.as_bytes()).unwrap();
    let templates = Templates::load().unwrap();
    let row = app
        .db()
        .run(move |c| asset_exchange::store::listings::find(c, id))
        .await
        .unwrap()
        .unwrap();
    let mut ctx = asset_exchange::exchange::listing_ctx(
        &notifier,
        &row,
        json!({"starts_at": "2026-12-24 10:00", "start_price": "10,000,000.00", "increment": "50,000.00",
               "free_bidding_seconds": 3600, "countdown_seconds": 300}),
    );
    let common = json!({"name": "王小明", "platform": "国有资产交易平台", "locale": "zh-CN", "base_url": notifier.link("")});
    ctx.as_object_mut()
        .unwrap()
        .extend(common.as_object().unwrap().clone());
    let mut out = Vec::new();
    let more = json!({"bidder_code": "B-1234", "commitment": "ab".repeat(32), "amount": "10,050,000.00", "ends_at": "2026-12-24 11:00",
                   "reason": "工单 1", "reset_at": "2026-12-24 09:00"});
    ctx.as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    // Kinds the walk does not reach: the sealed bid and the pre-emptive match have walks of
    // their own (tests/api/sealed.rs, preemption.rs); their links are checked here.
    for kind in [Kind::SealedBidReceived, Kind::Outmatched, Kind::MfaReset] {
        for locale in ["zh-CN", "en"] {
            let m = templates.render(kind, locale, &ctx).unwrap();
            out.push((
                kind.as_str().to_string(),
                "bidder".to_string(),
                format!("{}\n{}", m.text, m.html),
            ));
        }
    }
    out
}

#[actix_web::test]
async fn every_link_in_every_mail_opens_a_page_about_its_recipients_listing() {
    // The walk moves the clock 40 days on: tokens must outlive it.
    let app = spawn_app_with(|s| {
        s.listing.forfeit_unused_deposits = true;
        s.auth.access_token_ttl_seconds = 60 * 86_400;
        s.auth.session_max_hours = 60 * 24;
        // Every open deadline counts as near: the deadline reminders go out during the walk.
        s.listing.reminder_hours_before = 24 * 60;
    })
    .await;
    let c = cast(&app).await;
    let base = app
        .settings
        .server
        .public_base_url
        .trim_end_matches('/')
        .to_string();
    let (id, ended) = walk_every_mail(&app, &c).await;
    let titles = [
        (id, "嘉兴某国有企业30%股权转让"),
        (ended, "审核中终结的项目"),
    ];
    // Every kind of mail was sent: a new kind must join this walk.
    let mut mail = Vec::new();
    for _ in 0..40 {
        mail = all_mail(&app).await;
        let kinds: BTreeSet<String> = mail.iter().map(|(k, _, _)| k.clone()).collect();
        if Kind::ALL.iter().all(|k| kinds.contains(k.as_str())) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mail.extend(unsent_kinds(&app, id).await);
    let kinds: BTreeSet<&str> = mail.iter().map(|(k, _, _)| k.as_str()).collect();
    let missing: Vec<&str> = Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| !kinds.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "no mail of kind {missing:?} was sent in this walk"
    );
    let mut checked = 0;
    for (kind, to, body) in &mail {
        let found = links(body);
        let linkless = [
            "account_locked",
            "login_after_lockout",
            "account_exists",
            "mfa_reset",
        ];
        assert!(
            !found.is_empty() || linkless.contains(&kind.as_str()),
            "{kind} to {to} has no link"
        );
        for link in found {
            assert!(
                link.starts_with(&base),
                "{kind}: {link} is not under public_base_url"
            );
            let path = &link[base.len()..];
            assert!(!path.starts_with("/api/"), "{kind}: {link} is a JSON URL");
            let page = assert_page(&app.get(path, None).await, 200);
            if let Some(rest) = path.strip_prefix("/listings/") {
                let lid: i64 = rest.split('?').next().unwrap().parse().unwrap();
                if let Some((_, title)) = titles.iter().find(|(i, _)| *i == lid) {
                    assert!(
                        page.contains(title),
                        "{kind}: {link} is not its listing's page"
                    );
                }
            } else {
                assert!(
                    path.starts_with("/verify-email?token=")
                        || path.starts_with("/reset-password?token="),
                    "{kind}: {link}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} links");
}

#[actix_web::test]
async fn every_listing_of_the_demo_has_a_page_exactly_when_its_json_is_public() {
    use asset_exchange::demo::data;
    let (app, _) = crate::demo::seeded_app().await;
    let ops = crate::demo::token(&app, data::OPERATOR.email, data::OPERATOR_PASSWORD).await;
    let all = app
        .get("/api/v1/listings?per_page=100", Some(&ops))
        .await
        .json();
    let (mut public, mut hidden) = (BTreeSet::new(), 0);
    for l in all["items"].as_array().unwrap() {
        let (id, status) = (l["id"].as_i64().unwrap(), l["status"].as_str().unwrap());
        let json = app.get(&format!("/api/v1/listings/{id}"), None).await;
        for lang in ["", "?lang=en"] {
            let r = app.get(&format!("/listings/{id}{lang}"), None).await;
            if json.status == 200 {
                let page = assert_page(&r, 200);
                assert!(
                    page.contains(l["project_no"].as_str().unwrap()),
                    "{id} ({status})"
                );
            } else {
                assert_eq!(json.status, 404);
                assert_page(&r, 404);
            }
        }
        if json.status == 200 {
            public.insert(status.to_string());
        } else {
            hidden += 1;
        }
    }
    // Every public state of the listing state machine has rendered (the demo has them all).
    let states = [
        "disclosure",
        "no_sale",
        "negotiation",
        "auction_scheduled",
        "bidding",
        "awarded",
        "contract_signed",
        "paid",
        "announced",
        "closed",
        "suspended",
        "failed",
    ];
    for s in states {
        assert!(public.contains(s), "no public {s} page among {public:?}");
    }
    assert!(hidden >= 3, "drafts and reviews: {hidden}");
    assert_page(&app.get("/", None).await, 200);
}
