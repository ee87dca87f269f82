use super::*;
use crate::domain::account;
use crate::domain::credit_code::{CreditCode, check_character};
use crate::domain::listing::{Terms as ListingTerms, check_terms};
use std::collections::BTreeSet;

fn periods(min: u32, countdown_max: u32) -> Periods {
    Periods {
        listing: ListingPolicy {
            min_disclosure_equity_transfer: min,
            min_disclosure_capital_increase: min,
            min_disclosure_asset_large: min,
            min_disclosure_asset_medium: min,
            min_disclosure_asset_small: min,
            max_disclosure_working_days: 250,
            asset_large_threshold: Money::from_fen(1_000_000_000),
            asset_medium_threshold: Money::from_fen(100_000_000),
            deposit_max_percent: 30,
            relist_floor_percent: 90,
            appraisal_valid_months: 12,
            reappraisal_after_months: 12,
            free_bidding_min_seconds: 60,
            free_bidding_max_seconds: 86_400,
            countdown_min_seconds: 60,
            countdown_max_seconds: countdown_max,
        },
        announcement_min_working_days: 0,
    }
}

#[test]
fn every_listing_status_is_the_end_of_some_plan() {
    let plans = listings(&periods(20, 300));
    let ends: BTreeSet<&str> = plans.iter().map(|l| l.ends_in.as_str()).collect();
    for s in ListingStatus::ALL {
        assert!(
            ends.contains(s.as_str()),
            "no listing ends in {}",
            s.as_str()
        );
    }
    assert_eq!(plans.iter().filter(|l| l.is_live()).count(), 1);
    assert!(plans.iter().any(|l| l.is_live() && l.title == LIVE_TITLE));
}

#[test]
fn every_kind_and_asset_price_band_is_listed() {
    let p = periods(0, 300);
    let plans = listings(&p);
    let large = p.listing.asset_large_threshold;
    let medium = p.listing.asset_medium_threshold;
    let price = |l: &ListingPlan| ListingPlan::money(l.price_yuan);
    for kind in ListingKind::ALL {
        assert!(plans.iter().any(|l| l.kind == kind), "{kind:?}");
    }
    let assets: Vec<_> = plans
        .iter()
        .filter(|l| l.kind == ListingKind::AssetTransfer)
        .collect();
    assert!(assets.iter().any(|l| price(l) >= large));
    assert!(
        assets
            .iter()
            .any(|l| price(l) >= medium && price(l) < large)
    );
    assert!(assets.iter().any(|l| price(l) < medium));
}

#[test]
fn every_listing_satisfies_the_listing_rules_of_both_profiles() {
    for p in [periods(20, 300), periods(0, 300)] {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        for l in listings(&p) {
            let terms = ListingTerms {
                kind: l.kind,
                appraised_value: ListingPlan::money(l.appraised_yuan),
                appraisal_date: today - chrono::Days::new(60),
                listing_price: ListingPlan::money(l.price_yuan),
                deposit: ListingPlan::money(l.deposit_yuan),
                increment: ListingPlan::money(l.increment_yuan),
                disclosure_working_days: l.disclosure_working_days,
                free_bidding_seconds: l.free_bidding_seconds,
                countdown_seconds: l.countdown_seconds,
                consent_document: None,
                round: 1,
            };
            check_terms(&p.listing, &terms, today).unwrap_or_else(|v| panic!("{}: {v:?}", l.title));
            assert!(l.disclosure_working_days >= 5, "{}", l.title);
        }
    }
}

#[test]
fn the_live_auction_has_ten_free_minutes_and_a_five_minute_countdown() {
    let plans = listings(&periods(20, 300));
    let live = plans.iter().find(|l| l.is_live()).unwrap();
    assert_eq!(live.free_bidding_seconds, 600);
    assert_eq!(live.countdown_seconds, 300);
    let bidders: BTreeSet<usize> = live
        .steps
        .iter()
        .filter_map(|s| match s.act {
            Act::PayDeposit(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(bidders.len(), 4);
}

#[test]
fn periods_are_clamped_to_the_configured_bounds() {
    let plans = listings(&periods(0, 120));
    assert!(plans.iter().all(|l| l.countdown_seconds == 120));
}

#[test]
fn credit_codes_are_valid_and_unique() {
    let mut seen = BTreeSet::new();
    for a in ENTERPRISES.iter().chain(BIDDERS.iter()) {
        let check = check_character(a.credit_code_body).unwrap();
        let code = format!("{}{check}", a.credit_code_body);
        assert!(CreditCode::parse(&code).is_ok(), "{code}");
        assert!(seen.insert(code));
    }
}

#[test]
fn accounts_pass_the_account_rules_and_are_unique() {
    let mut emails = BTreeSet::new();
    for s in STAFF {
        assert!(account::normalize_email(s.email).is_ok());
        assert!(account::check_password(s.password, s.email).is_ok());
        assert!(s.role.is_staff());
        assert!(emails.insert(s.email));
    }
    for a in ENTERPRISES.iter().chain(BIDDERS.iter()) {
        assert!(account::normalize_email(a.email).is_ok());
        assert!(account::check_phone(a.phone).is_ok());
        assert!(account::check_password(SELLER_PASSWORD, a.email).is_ok());
        assert!(account::check_password(BIDDER_PASSWORD, a.email).is_ok());
        assert!(emails.insert(a.email));
        assert!(a.email.ends_with(".demo.example"));
    }
}

#[test]
fn some_bidders_share_an_email_domain_or_a_phone() {
    let domain = |e: &str| e.split_once('@').map(|(_, d)| d.to_string());
    let domains: Vec<_> = BIDDERS.iter().filter_map(|b| domain(b.email)).collect();
    let distinct: BTreeSet<_> = domains.iter().collect();
    assert!(distinct.len() < domains.len());
    let phones: BTreeSet<_> = BIDDERS.iter().map(|b| b.phone).collect();
    assert!(phones.len() < BIDDERS.len());
}

#[test]
fn titles_are_unique() {
    let plans = listings(&periods(20, 300));
    let titles: BTreeSet<_> = plans.iter().map(|l| l.title).collect();
    assert_eq!(titles.len(), plans.len());
}
