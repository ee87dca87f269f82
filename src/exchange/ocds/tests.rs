use chrono::{Duration, NaiveDate, TimeZone};
use serde_json::{Value, json};

use super::amounts::to_json_number;
use super::schema::Release;
use super::*;
use crate::domain::money::Money;
use crate::store::auctions::AuctionRow;
use crate::store::deals::DealRow;
use crate::store::listings::ListingRow;
use crate::store::models::to_db;
use crate::store::ocds::ClosedBid;
use crate::store::ocds::RoundRow;
use std::collections::HashSet;

fn settings() -> OcdsSettings {
    OcdsSettings {
        ocid_prefix: "ocds-axchg1".into(),
        publisher_name: "某省产权交易所".into(),
        license: "https://creativecommons.org/licenses/by/4.0/".into(),
        publication_policy: String::new(),
        bids_extension_url: "https://example.org/ocds_bid_extension/v1.1.5/extension.json".into(),
    }
}

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn listing(status: &str) -> ListingRow {
    ListingRow {
        id: 7,
        project_no: "AX-CQ-2026-00001".into(),
        organization_id: 3,
        created_by: 4,
        kind: "equity_transfer".into(),
        title: "杭州某国有企业100%股权转让".into(),
        description: "转让标的为某公司100%股权。".into(),
        status: status.into(),
        appraised_value: 1_000_000_000,
        appraisal_date: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
        listing_price: 1_000_000_000,
        deposit: 100_000_000,
        increment: 5_000_000,
        disclosure_working_days: 20,
        disclosure_start: Some(to_db(t(0))),
        disclosure_end: Some(to_db(t(100))),
        disclosure_decided_at: None,
        free_bidding_seconds: 3600,
        countdown_seconds: 300,
        allow_self_raise: false,
        consent_document: None,
        round: 1,
        first_disclosure_at: Some(to_db(t(0))),
        review_comment: Some("内部意见".into()),
        suspended_from: None,
        suspended_at: None,
        suspension_reason: None,
        suspension_alerted: false,
        runner_up_offer: false,
        decision_due_at: None,
        bidding_method: "english".into(),
        preemption: "none".into(),
        terminated_reason: None,
        created_at: to_db(t(-60)),
        updated_at: to_db(t(0)),
    }
}

fn round(n: i32, start: i64, end: i64, outcome: Option<&str>) -> RoundRow {
    RoundRow {
        listing_id: 7,
        round: n,
        listing_price: 1_000_000_000,
        disclosure_start: Some(to_db(t(start))),
        disclosure_end: Some(to_db(t(end))),
        outcome: outcome.map(str::to_string),
    }
}

fn process(listing: ListingRow, rounds: Vec<RoundRow>) -> Process {
    Process {
        listing,
        seller: "浙江某国有投资集团有限公司".into(),
        rounds,
        auctions: Vec::new(),
        bids: Vec::new(),
        deals: Vec::new(),
        payments: Vec::new(),
    }
}

fn auction(closed: Option<i64>, bids: i32) -> AuctionRow {
    AuctionRow {
        id: 11,
        listing_id: 7,
        round: 1,
        starts_at: to_db(t(120)),
        free_ends_at: to_db(t(130)),
        ends_at: to_db(t(140)),
        countdown_seconds: 300,
        start_price: 1_000_000_000,
        increment: 5_000_000,
        allow_self_raise: false,
        current_price: Some(1_010_000_000),
        leading_registration_id: Some(99),
        leading_bidder_code: Some("B0002".into()),
        bid_count: bids,
        closed_at: closed.map(|m| to_db(t(m))),
        created_at: to_db(t(110)),
        last_bid_at: None,
        leading_holds_right: false,
    }
}

fn bid(seq: i32, code: &str, fen: i64, minute: i64) -> ClosedBid {
    ClosedBid {
        listing_id: 7,
        round: 1,
        seq,
        bidder_code: code.into(),
        amount: fen,
        placed_at: to_db(t(minute)),
    }
}

fn deal(method: &str, status: &str, awarded: i64) -> DealRow {
    let at = |m: i64| Some(to_db(t(m)));
    let after = |s: &[&str]| s.contains(&status);
    DealRow {
        id: 5,
        listing_id: 7,
        round: 1,
        registration_id: 99,
        bidder_code: "B0002".into(),
        price: 1_010_000_000,
        method: method.into(),
        status: status.into(),
        awarded_at: to_db(t(awarded)),
        contract_due_at: to_db(t(awarded + 10_000)),
        contract_signed_at: if after(&["contract_signed", "paid", "announced", "closed"]) {
            at(awarded + 10)
        } else {
            None
        },
        paid_at: if after(&["paid", "announced", "closed"]) {
            at(awarded + 20)
        } else {
            None
        },
        payment_reference: Some("JY-PAY-001".into()),
        announced_at: if after(&["announced", "closed"]) {
            at(awarded + 30)
        } else {
            None
        },
        closed_at: if after(&["closed"]) {
            at(awarded + 40)
        } else {
            None
        },
        offer_due_at: None,
        payment_due_at: None,
        payment_plan: None,
        guarantee_reference: None,
        paid_total: 0,
        first_payment_due_at: None,
        first_payment_min: None,
        certificate_no: None,
        contract_overdue_flagged: false,
    }
}

fn json_of(releases: &[Release]) -> Vec<Value> {
    releases
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

fn all(p: &Process) -> Vec<Value> {
    let s = settings();
    let pb = Publication {
        settings: &s,
        base_url: "https://exchange.example",
    };
    json_of(&releases(&pb, p))
}

/// Releases sorted by date, ids unique, the last one the listing now.
fn assert_well_formed(rs: &[Value], updated_at: DateTime<Utc>) {
    let dates: Vec<&str> = rs.iter().map(|r| r["date"].as_str().unwrap()).collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted, "releases out of order");
    let ids: HashSet<&str> = rs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rs.len(), "release ids repeat");
    assert_eq!(rs.last().unwrap()["date"], ts(updated_at));
}

fn stages(rs: &[Value]) -> Vec<String> {
    rs.iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["tender"]["statusDetails"].as_str().unwrap(),
                r["tag"][0].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn json_numbers_print_exactly_the_amount_for_every_edge_value() {
    let check = |m: Money| {
        let text = serde_json::to_string(&to_json_number(m)).unwrap();
        let back = Money::parse(&text).unwrap_or_else(|e| panic!("{m} printed as {text}: {e}"));
        assert_eq!(back.to_string(), m.to_string(), "{m} printed as {text}");
    };
    for s in [
        "0.00",
        "0.01",
        "0.10",
        "0.99",
        "1.00",
        "1.05",
        "10000000.00",
        "99999999999.99",
        "999999999999.99",
        "999999999999.90",
        "1000000000000.00",
        "123456789012.34",
        "900719925474.09",
        "562949953421.31",
    ] {
        check(Money::parse(s).unwrap());
    }
    let max = Money::from_yuan(1_000_000_000_000).unwrap().fen();
    for fen in (0..100_000).chain(max - 100_000..=max) {
        check(Money::from_fen(fen));
    }
    // A deterministic spread over the whole range (and every magnitude).
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let digits = 1 + (x % 15) as u32;
        let fen = (x >> 8) % 10u64.pow(digits);
        check(Money::from_fen(i64::try_from(fen).unwrap().min(max)));
    }
}

#[test]
fn a_listing_in_disclosure_is_one_tender_release() {
    let p = process(listing("disclosure"), vec![round(1, 0, 100, None)]);
    let rs = all(&p);
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    assert_eq!(r["ocid"], "ocds-axchg1-AX-CQ-2026-00001");
    assert_eq!(r["tag"], json!(["tender"]));
    assert_eq!(r["initiationType"], "tender");
    assert_eq!(r["language"], "zh");
    assert_eq!(r["tender"]["id"], "AX-CQ-2026-00001");
    assert_eq!(r["tender"]["status"], "active");
    assert_eq!(r["tender"]["procurementMethod"], "open");
    assert_eq!(
        r["tender"]["value"],
        json!({"amount": 10_000_000.0, "currency": "CNY"})
    );
    assert_eq!(
        r["tender"]["tenderPeriod"],
        json!({"startDate": ts(t(0)), "endDate": ts(t(100))})
    );
    assert_eq!(r["buyer"]["name"], "浙江某国有投资集团有限公司");
    assert_eq!(r["tender"]["procuringEntity"]["name"], "某省产权交易所");
    let roles: Vec<&Value> = r["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["roles"])
        .collect();
    assert_eq!(roles, [&json!(["buyer"]), &json!(["procuringEntity"])]);
    for absent in ["bids", "awards", "contracts"] {
        assert!(r.get(absent).is_none(), "{absent}");
    }
    assert!(r["tender"].get("numberOfTenderers").is_none());
    assert!(
        !r.to_string().contains("内部意见"),
        "review comments are private"
    );
}

#[test]
fn listings_the_public_may_not_see_have_no_releases() {
    for status in ["draft", "submitted", "returned"] {
        assert!(
            all(&process(listing(status), vec![])).is_empty(),
            "{status}"
        );
    }
    let mut never_disclosed = listing("terminated");
    never_disclosed.disclosure_start = None;
    never_disclosed.disclosure_end = None;
    never_disclosed.first_disclosure_at = None;
    assert!(all(&process(never_disclosed, vec![])).is_empty());
}

#[test]
fn a_closed_auction_shows_bids_by_code_but_the_award_only_once_announced() {
    let mut l = listing("contract_signed");
    l.disclosure_decided_at = Some(to_db(t(100)));
    l.updated_at = to_db(t(160));
    let mut p = process(l, vec![round(1, 0, 100, Some("awarded"))]);
    p.auctions.push(auction(Some(150), 3));
    p.bids = vec![
        bid(1, "B0001", 1_000_000_000, 125),
        bid(2, "B0002", 1_005_000_000, 126),
        bid(3, "B0002", 1_010_000_000, 135),
    ];
    p.deals.push(deal("auction", "contract_signed", 150));
    let rs = all(&p);
    assert_well_formed(&rs, t(160));
    assert_eq!(
        stages(&rs),
        [
            "disclosure:tender",
            "awaiting_auction:tenderUpdate",
            "auction_scheduled:tenderUpdate",
            "bidding:tenderUpdate",
            "awarded:tenderUpdate",
            "contract_signed:tenderUpdate",
        ]
    );
    // Before the auction closed no bid is shown.
    assert!(rs[3].get("bids").is_none());
    let now = rs.last().unwrap();
    assert_eq!(now["tender"]["status"], "complete");
    assert_eq!(now["tender"]["numberOfTenderers"], 2);
    assert_eq!(now["bids"]["statistics"][0]["measure"], "bids");
    assert_eq!(now["bids"]["statistics"][0]["value"], 3);
    assert_eq!(now["bids"]["statistics"][1]["measure"], "bidders");
    assert_eq!(now["bids"]["statistics"][1]["value"], 2);
    let details = now["bids"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 3);
    assert_eq!(details[2]["value"]["amount"], json!(10_100_000.0));
    assert_eq!(
        details[2]["tenderers"],
        json!([{"id": "bidder-B0002", "name": "B0002"}])
    );
    assert_eq!(details[2]["status"], "valid");
    assert!(now.get("awards").is_none() && now.get("contracts").is_none());
    assert!(!now.to_string().contains("supplier"));
    assert!(!now.to_string().contains("JY-PAY-001"));
}

#[test]
fn an_announced_then_closed_deal_adds_award_and_contract() {
    let mut l = listing("closed");
    l.disclosure_decided_at = Some(to_db(t(100)));
    l.updated_at = to_db(t(190));
    let mut p = process(l, vec![round(1, 0, 100, Some("awarded"))]);
    p.auctions.push(auction(Some(150), 2));
    p.bids = vec![
        bid(1, "B0001", 1_000_000_000, 125),
        bid(2, "B0002", 1_010_000_000, 126),
    ];
    p.deals.push(deal("auction", "closed", 150));
    let rs = all(&p);
    assert_well_formed(&rs, t(190));
    let tail: Vec<String> = stages(&rs).split_off(4);
    assert_eq!(
        tail,
        [
            "awarded:tenderUpdate",
            "contract_signed:tenderUpdate",
            "paid:tenderUpdate",
            "announced:award",
            "closed:contractTermination",
        ]
    );
    let announced = &rs[rs.len() - 2];
    assert_eq!(announced["tag"], json!(["award", "contract"]));
    assert_eq!(announced["contracts"][0]["status"], "active");
    assert!(
        rs[rs.len() - 3].get("awards").is_none(),
        "paid: not public yet"
    );
    let now = rs.last().unwrap();
    let award = &now["awards"][0];
    assert_eq!(award["status"], "active");
    assert_eq!(award["date"], ts(t(150)));
    assert_eq!(award["value"]["amount"], json!(10_100_000.0));
    assert_eq!(
        award["suppliers"],
        json!([{"id": "bidder-B0002", "name": "B0002"}])
    );
    assert_eq!(award["relatedBid"], "r1-bid-2");
    let contract = &now["contracts"][0];
    assert_eq!(contract["awardID"], award["id"]);
    assert_eq!(contract["status"], "terminated");
    assert_eq!(contract["dateSigned"], ts(t(160)));
    let winner = now["parties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "bidder-B0002")
        .unwrap();
    assert_eq!(winner["roles"], json!(["tenderer", "supplier"]));

    let s = settings();
    let pb = Publication {
        settings: &s,
        base_url: "https://exchange.example/",
    };
    let rec = serde_json::to_value(record(&pb, &p).unwrap()).unwrap();
    assert_eq!(rec["compiledRelease"]["tag"], json!(["compiled"]));
    assert_eq!(
        rec["compiledRelease"]["id"],
        format!("ocds-axchg1-AX-CQ-2026-00001-{}", ts(t(190)))
    );
    assert_eq!(rec["compiledRelease"]["awards"], now["awards"]);
}

#[test]
fn a_negotiated_deal_shows_one_tenderer_and_its_code_only_once_announced() {
    let mut l = listing("awarded");
    l.disclosure_decided_at = Some(to_db(t(100)));
    l.updated_at = to_db(t(120));
    let mut p = process(l, vec![round(1, 0, 100, Some("awarded"))]);
    p.deals.push(deal("negotiation", "awarded", 120));
    let rs = all(&p);
    assert_eq!(
        stages(&rs),
        [
            "disclosure:tender",
            "negotiation:tenderUpdate",
            "awarded:tenderUpdate"
        ]
    );
    let now = rs.last().unwrap();
    assert_eq!(now["tender"]["numberOfTenderers"], 1);
    assert!(
        now["tender"]["procurementMethodDetails"]
            .as_str()
            .unwrap()
            .contains("协议成交")
    );
    assert!(!now.to_string().contains("B0002"), "{now}");

    p.listing.status = "announced".into();
    p.listing.updated_at = to_db(t(150));
    p.deals = vec![deal("negotiation", "announced", 120)];
    let now = all(&p).pop().unwrap();
    assert_eq!(now["awards"][0]["suppliers"][0]["name"], "B0002");
    assert_eq!(
        now["tender"]["tenderers"],
        json!([{"id": "bidder-B0002", "name": "B0002"}])
    );
    assert!(now["awards"][0].get("relatedBid").is_none());
}

#[test]
fn a_relisted_listing_keeps_its_earlier_round() {
    let mut l = listing("disclosure");
    l.round = 2;
    l.listing_price = 900_000_000;
    l.disclosure_start = Some(to_db(t(300)));
    l.disclosure_end = Some(to_db(t(400)));
    l.updated_at = to_db(t(300));
    let mut r2 = round(2, 300, 400, None);
    r2.listing_price = 900_000_000;
    let p = process(l, vec![round(1, 0, 100, Some("no_sale")), r2]);
    let rs = all(&p);
    assert_well_formed(&rs, t(300));
    assert_eq!(
        stages(&rs),
        [
            "disclosure:tender",
            "no_sale:tenderUpdate",
            "disclosure:tender"
        ]
    );
    assert_eq!(rs[1]["tender"]["status"], "unsuccessful");
    assert_eq!(rs[1]["tender"]["numberOfTenderers"], 0);
    assert_eq!(rs[1]["tender"]["value"]["amount"], json!(10_000_000.0));
    assert_eq!(rs[2]["tender"]["value"]["amount"], json!(9_000_000.0));
    assert!(rs[2]["id"].as_str().unwrap().starts_with("r2-disclosure-"));
}

#[test]
fn a_resumed_disclosure_is_an_update_and_a_termination_a_cancellation() {
    let mut l = listing("disclosure");
    l.updated_at = to_db(t(50));
    let p = process(l.clone(), vec![round(1, 0, 100, None)]);
    assert_eq!(
        stages(&all(&p)),
        ["disclosure:tender", "disclosure:tenderUpdate"]
    );
    l.status = "terminated".into();
    l.updated_at = to_db(t(60));
    let rs = all(&process(l, vec![round(1, 0, 100, None)]));
    assert_eq!(
        stages(&rs),
        ["disclosure:tender", "terminated:tenderCancellation"]
    );
    assert_eq!(rs[1]["tender"]["status"], "cancelled");
}

#[test]
fn a_release_package_pages_and_dates_by_the_newest_change() {
    let s = settings();
    let pb = Publication {
        settings: &s,
        base_url: "https://exchange.example",
    };
    let mut later = listing("disclosure");
    later.id = 8;
    later.project_no = "AX-CQ-2026-00002".into();
    later.updated_at = to_db(t(5));
    let ps = vec![
        process(listing("disclosure"), vec![round(1, 0, 100, None)]),
        process(later, vec![round(1, 0, 100, None)]),
    ];
    let pkg = release_package(
        &pb,
        &ps,
        pb.url("/api/v1/ocds/releases?page=1&per_page=2"),
        Some(pb.url("/api/v1/ocds/releases?page=2&per_page=2")),
        t(999),
    );
    let v = serde_json::to_value(&pkg).unwrap();
    assert_eq!(v["version"], "1.1");
    assert_eq!(v["publishedDate"], ts(t(5)));
    assert_eq!(v["releases"].as_array().unwrap().len(), 2);
    assert_eq!(v["extensions"], json!([s.bids_extension_url]));
    assert_eq!(
        v["links"]["next"],
        "https://exchange.example/api/v1/ocds/releases?page=2&per_page=2"
    );
    assert!(v.get("publicationPolicy").is_none());
    let empty = release_package(&pb, &[], "https://x.example/".into(), None, t(999));
    assert_eq!(empty.published_date, ts(t(999)));
    assert!(serde_json::to_value(&empty).unwrap().get("links").is_none());
}
