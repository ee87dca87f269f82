use super::auction::{AuctionFacts, BidFact, auction_rules};
use super::parties::{Party, email_domain, related_parties, telling_ip};
use super::periods::{
    contract_overdue, payment_overdue, repeated_forfeits, short_announcement, short_disclosure,
    suspension_overdue,
};
use super::prices::{
    DealFacts, RoundPrice, deal_rules, listing_price_below_appraisal, repeated_relisting,
};
use super::*;
use chrono::{DateTime, NaiveDate, Utc};

fn policy() -> RiskPolicy {
    RiskPolicy {
        deal_floor_percent: 90,
        relist_alert_round: 3,
        price_cut_alert_count: 2,
        appraisal_max_age_months: 12,
        countdown_min_active_bidders: 2,
        public_mail_domains: ["qq.com", "163.com"].map(String::from).into(),
        small_domain_max_accounts: 20,
        announcement_min_working_days: 5,
        snipe_window_seconds: 10,
        snipe_min_bids: 3,
        snipe_share_percent: 80,
        silent_bidders_min: 1,
        forfeits_alert_count: 2,
        forfeits_window_days: 365,
    }
}

fn m(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn rules(f: &[Finding]) -> Vec<&'static str> {
    f.iter().map(|f| f.rule.id()).collect()
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
}

#[test]
fn every_rule_has_a_unique_id_that_parses_back() {
    let ids: BTreeSet<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), Rule::ALL.len());
    for r in Rule::ALL {
        assert_eq!(Rule::parse(r.id()), Some(r));
        assert!(!r.description().is_empty());
    }
    assert_eq!(Severity::parse("high"), Some(Severity::High));
    assert_eq!(Severity::parse("urgent"), None);
}

fn round_price(price: &str, consent: Option<&str>) -> RoundPrice {
    RoundPrice {
        listing_id: 7,
        round: 2,
        appraised: m("1000000.00"),
        listing_price: m(price),
        consent_document: consent.map(String::from),
    }
}

#[test]
fn a_listing_price_one_fen_below_the_appraisal_without_consent_fires() {
    let f = listing_price_below_appraisal(&round_price("999999.99", None)).unwrap();
    assert_eq!(f.rule, Rule::PriceBelowAppraisal);
    assert_eq!(f.subject, "listing:7:round:2");
    assert!(f.detail.contains("999999.99"), "{}", f.detail);
    assert!(listing_price_below_appraisal(&round_price("1000000.00", None)).is_none());
    assert!(
        listing_price_below_appraisal(&round_price("800000.00", Some("国资产权〔2026〕1号")))
            .is_none()
    );
    assert!(listing_price_below_appraisal(&round_price("800000.00", Some("  "))).is_some());
}

#[test]
fn relisting_fires_at_the_configured_round_or_number_of_cuts() {
    let p = policy();
    let same = [m("100.00"), m("100.00")];
    assert!(repeated_relisting(&p, 1, &same).is_none());
    let three = [m("100.00"), m("100.00"), m("100.00")];
    assert_eq!(
        repeated_relisting(&p, 1, &three).unwrap().subject,
        "listing:1"
    );
    let one_cut = [m("100.00"), m("95.00")];
    assert!(repeated_relisting(&p, 1, &one_cut).is_none());
    let mut p2 = p.clone();
    p2.relist_alert_round = 0;
    let two_cuts = [m("100.00"), m("95.00"), m("90.00")];
    let f = repeated_relisting(&p2, 1, &two_cuts).unwrap();
    assert_eq!(f.evidence["price_cuts"], "2");
    let up_then_down = [m("100.00"), m("110.00"), m("105.00")];
    assert!(repeated_relisting(&p2, 1, &up_then_down).is_none());
}

fn deal(price: &str) -> DealFacts {
    DealFacts {
        listing_id: 3,
        round: 1,
        negotiated: false,
        price: m(price),
        appraised: m("1000000.00"),
        appraisal_date: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
        consent_document: None,
        round_prices: vec![m("1000000.00")],
        awarded_on: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
    }
}

#[test]
fn a_deal_at_the_appraisal_raises_nothing() {
    assert!(deal_rules(&policy(), &deal("1000000.00")).is_empty());
}

#[test]
fn a_deal_below_the_appraisal_fires_and_below_the_floor_fires_even_with_consent() {
    let p = policy();
    assert_eq!(
        rules(&deal_rules(&p, &deal("999999.99"))),
        ["price_below_appraisal"]
    );
    // exactly 90 %: not below the floor
    let mut d = deal("900000.00");
    d.consent_document = Some("批文".into());
    assert!(deal_rules(&p, &d).is_empty());
    let mut d = deal("899999.99");
    d.consent_document = Some("批文".into());
    assert_eq!(rules(&deal_rules(&p, &d)), ["deal_below_floor"]);
    assert_eq!(
        rules(&deal_rules(&p, &deal("899999.99"))),
        ["price_below_appraisal", "deal_below_floor"]
    );
}

#[test]
fn a_negotiated_deal_fires_and_is_high_after_price_cuts() {
    let p = policy();
    let mut d = deal("1000000.00");
    d.negotiated = true;
    let f = deal_rules(&p, &d);
    assert_eq!(rules(&f), ["single_bidder_deal"]);
    assert_eq!(f[0].severity, Severity::Medium);
    d.round_prices = vec![m("1100000.00"), m("1000000.00")];
    let f = deal_rules(&p, &d);
    assert_eq!(f[0].severity, Severity::High);
    assert!(f[0].detail.contains("1 price cuts"), "{}", f[0].detail);
}

#[test]
fn an_appraisal_fires_from_its_anniversary_on_as_approval_refuses_it() {
    let p = policy();
    let mut d = deal("1000000.00");
    assert_eq!(d.awarded_on, NaiveDate::from_ymd_opt(2026, 11, 27).unwrap());
    // The day before the anniversary: still valid (approval would accept it too).
    d.appraisal_date = NaiveDate::from_ymd_opt(2025, 11, 28).unwrap();
    assert!(deal_rules(&p, &d).is_empty());
    // On the anniversary: expired for approval, and the alert agrees.
    d.appraisal_date = NaiveDate::from_ymd_opt(2025, 11, 27).unwrap();
    assert_eq!(rules(&deal_rules(&p, &d)), ["stale_appraisal"]);
    assert!(crate::domain::listing::appraisal_expired(
        d.appraisal_date,
        12,
        d.awarded_on
    ));
}

fn bid(reg: i64, amount: &str, at: i64, end_before: i64) -> BidFact {
    BidFact {
        registration_id: reg,
        amount: m(amount),
        placed_at: t(at),
        end_before: t(end_before),
    }
}

/// Free period until t(100), countdown 60 s; start price 100.
fn auction(bids: Vec<BidFact>, eligible: Vec<i64>) -> AuctionFacts {
    AuctionFacts {
        listing_id: 9,
        round: 1,
        start_price: m("100.00"),
        free_ends_at: t(100),
        bids,
        eligible,
    }
}

#[test]
fn a_competitive_auction_raises_nothing() {
    let a = auction(
        vec![
            bid(1, "100.00", 10, 160),
            bid(2, "110.00", 120, 160),
            bid(1, "120.00", 150, 180),
        ],
        vec![1, 2],
    );
    assert!(auction_rules(&policy(), &a).is_empty());
}

#[test]
fn winning_at_the_start_price_fires_one_increment_more_does_not() {
    let p = policy();
    let a = auction(vec![bid(1, "100.00", 120, 160)], vec![1]);
    assert_eq!(rules(&auction_rules(&p, &a)), ["no_raise_award"]);
    let a = auction(vec![bid(1, "110.00", 120, 160)], vec![1]);
    assert!(auction_rules(&p, &a).is_empty());
}

#[test]
fn one_bidder_in_the_countdown_of_several_eligible_fires_two_do_not() {
    let p = policy();
    let a = auction(
        vec![bid(2, "110.00", 10, 160), bid(1, "120.00", 130, 160)],
        vec![1, 2],
    );
    let f = auction_rules(&p, &a);
    assert_eq!(rules(&f), ["lone_countdown_bidder"]);
    assert_eq!(f[0].evidence["countdown_bidders"], "1");
    let a = auction(
        vec![bid(2, "110.00", 120, 160), bid(1, "120.00", 130, 180)],
        vec![1, 2],
    );
    assert!(auction_rules(&p, &a).is_empty());
}

#[test]
fn sniping_fires_when_the_share_of_last_second_bids_reaches_the_threshold() {
    let p = policy();
    // Each bid lands 10 s before the running end (the window's edge): 4 of 5 late = 80 %.
    let bids = vec![
        bid(1, "110.00", 150, 160), // late
        bid(2, "120.00", 200, 210), // late
        bid(1, "130.00", 250, 260), // late
        bid(2, "140.00", 300, 310), // late
        bid(1, "150.00", 301, 360), // early
    ];
    let f = auction_rules(&p, &auction(bids.clone(), vec![1, 2]));
    assert_eq!(rules(&f), ["countdown_sniping"]);
    assert_eq!(f[0].evidence["late_bids"], "4");
    // 11 s before the end is outside the window: 3 of 5 = 60 %.
    let mut fewer = bids.clone();
    fewer[0] = bid(1, "110.00", 149, 160);
    assert!(auction_rules(&p, &auction(fewer, vec![1, 2])).is_empty());
    // Below the minimum number of countdown bids nothing fires.
    let two = vec![bid(1, "110.00", 150, 160), bid(2, "120.00", 200, 210)];
    assert!(auction_rules(&p, &auction(two, vec![1, 2])).is_empty());
}

#[test]
fn eligible_bidders_who_never_bid_fire() {
    let p = policy();
    let a = auction(
        vec![bid(1, "110.00", 120, 160), bid(2, "120.00", 130, 180)],
        vec![1, 2, 3],
    );
    let f = auction_rules(&p, &a);
    assert_eq!(rules(&f), ["silent_bidders"]);
    assert_eq!(f[0].evidence["silent_registrations"], "3");
    let mut p2 = p.clone();
    p2.silent_bidders_min = 2;
    assert!(auction_rules(&p2, &a).is_empty());
}

fn party(reg: Option<i64>, org: i64, ip: &str, phone: &str, email: &str) -> Party {
    Party {
        registration_id: reg,
        label: reg.map_or("seller".into(), |r| format!("B{r}")),
        organization_id: org,
        credit_code: format!("CODE{org}"),
        phones: [phone.to_string()].into(),
        email_domains: email_domain(email).into_iter().collect(),
        ips: [ip.to_string()].into(),
    }
}

#[test]
fn unrelated_parties_raise_nothing() {
    let seller = party(None, 1, "10.0.0.1", "1", "a@seller.cn");
    let bidders = [
        party(Some(11), 2, "10.0.0.2", "2", "b@qq.com"),
        party(Some(12), 3, "10.0.0.3", "3", "c@qq.com"),
    ];
    let f = related_parties(&policy(), 5, 1, &seller, &bidders, &BTreeMap::new());
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn bidders_sharing_an_ip_or_phone_or_small_domain_fire_once_per_pair() {
    let p = policy();
    let seller = party(None, 1, "10.0.0.1", "1", "a@seller.cn");
    let bidders = [
        party(Some(12), 2, "10.0.0.9", "2", "b@small.cn"),
        party(Some(11), 3, "10.0.0.9", "3", "c@small.cn"),
    ];
    let accounts = BTreeMap::from([("small.cn".to_string(), 20)]);
    let f = related_parties(&p, 5, 1, &seller, &bidders, &accounts);
    assert_eq!(rules(&f), ["related_bidders"]);
    assert_eq!(f[0].subject, "listing:5:round:1:pair:11-12");
    assert_eq!(f[0].evidence["ips"], "10.0.0.9");
    assert_eq!(f[0].evidence["email_domains"], "small.cn");
    assert!(
        !f[0].detail.contains("10.0.0.9"),
        "IPs stay in the evidence"
    );
    // One more account on the domain: no longer a small organisation's.
    let big = BTreeMap::from([("small.cn".to_string(), 21)]);
    let f = related_parties(&p, 5, 1, &seller, &bidders, &big);
    assert_eq!(f[0].evidence["email_domains"], "");
    let phone = [
        party(Some(12), 2, "10.0.0.2", "138", "b@qq.com"),
        party(Some(11), 3, "10.0.0.3", "138", "c@qq.com"),
    ];
    let f = related_parties(&p, 5, 1, &seller, &phone, &accounts);
    assert_eq!(f[0].evidence["phone"], "true");
}

#[test]
fn a_bidder_tied_to_the_seller_fires() {
    let p = policy();
    let seller = party(None, 1, "10.0.0.1", "1", "a@seller.cn");
    let bidders = [party(Some(11), 2, "10.0.0.2", "2", "b@seller.cn")];
    let f = related_parties(&p, 5, 1, &seller, &bidders, &BTreeMap::new());
    assert_eq!(rules(&f), ["bidder_related_to_seller"]);
    assert_eq!(f[0].subject, "listing:5:round:1:registration:11");
    let mut same_code = party(Some(11), 2, "10.0.0.2", "2", "b@qq.com");
    same_code.credit_code = seller.credit_code.clone();
    let f = related_parties(&p, 5, 1, &seller, &[same_code], &BTreeMap::new());
    assert_eq!(f[0].evidence["same_organization"], "true");
}

#[test]
fn loopback_addresses_and_domains_are_normalised() {
    assert!(!telling_ip("127.0.0.1"));
    assert!(!telling_ip("::1"));
    assert!(!telling_ip("garbage"));
    assert!(telling_ip("203.0.113.7"));
    assert_eq!(
        email_domain("Li.Lei@Example.CN").as_deref(),
        Some("example.cn")
    );
    assert_eq!(email_domain("nobody"), None);
}

#[test]
fn periods_fire_below_their_minimum_only() {
    let p = policy();
    assert!(short_disclosure(1, 1, 20, 20).is_none());
    assert_eq!(
        short_disclosure(1, 1, 19, 20).unwrap().subject,
        "listing:1:round:1"
    );
    assert!(short_announcement(&p, 1, 1, 5).is_none());
    assert_eq!(
        short_announcement(&p, 1, 1, 4).unwrap().subject,
        "deal:1:round:1"
    );
}

#[test]
fn forfeits_fire_at_the_configured_count() {
    let p = policy();
    assert!(repeated_forfeits(&p, 4, "某公司", 1).is_none());
    let f = repeated_forfeits(&p, 4, "某公司", 2).unwrap();
    assert_eq!(f.subject, "org:4");
    assert_eq!(f.severity, Severity::High);
}

#[test]
fn overdue_findings_name_their_subject() {
    let s = suspension_overdue(3, t(0), 1);
    assert_eq!(
        s.subject,
        format!("listing:3:suspended:{}", t(0).timestamp())
    );
    let c = contract_overdue(3, 2, "B-1234", t(0));
    // Per winner: a runner-up that takes over and misses its own deadline is flagged too.
    assert_eq!(c.subject, "deal:3:round:2:B-1234");
    assert_ne!(contract_overdue(3, 2, "B-9999", t(0)).subject, c.subject);
    assert_eq!(c.rule, Rule::ContractOverdue);
    let p1 = payment_overdue(3, 2, "B-1234", t(0), "100.00");
    let p2 = payment_overdue(3, 2, "B-1234", t(60), "100.00");
    assert_eq!(p1.rule, Rule::PaymentOverdue);
    assert_ne!(
        p1.subject, p2.subject,
        "each missed deadline is its own alert"
    );
}

#[test]
fn a_right_holder_matching_the_only_bid_at_the_start_price_is_flagged() {
    let start = Money::parse("1000000").unwrap();
    let raised = Money::parse("1010000").unwrap();
    let f =
        super::preemptive_match_at_start(3, 1, start, &[(start, false), (start, true)]).unwrap();
    assert_eq!(f.rule, Rule::PreemptiveMatchAtStart);
    assert!(super::preemptive_match_at_start(3, 1, start, &[(start, false)]).is_none());
    assert!(
        super::preemptive_match_at_start(3, 1, start, &[(raised, false), (raised, true)]).is_none()
    );
    let more = [(start, false), (start, true), (raised, false)];
    assert!(super::preemptive_match_at_start(3, 1, start, &more).is_none());
}
