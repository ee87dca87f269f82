//! Edges of the listing rules: transitions, terms, appraisal age, relisting, suspension.

use super::*;
use chrono::TimeZone;

fn m(s: &str) -> Money {
    Money::parse(s).unwrap()
}

pub fn policy() -> ListingPolicy {
    ListingPolicy {
        min_disclosure_equity_transfer: 20,
        min_disclosure_capital_increase: 40,
        min_disclosure_asset_large: 20,
        min_disclosure_asset_medium: 10,
        min_disclosure_asset_small: 5,
        max_disclosure_working_days: 250,
        asset_large_threshold: m("10000000"),
        asset_medium_threshold: m("1000000"),
        deposit_max_percent: 30,
        relist_floor_percent: 90,
        appraisal_valid_months: 12,
        reappraisal_after_months: 12,
        free_bidding_min_seconds: 60,
        free_bidding_max_seconds: 86_400,
        countdown_min_seconds: 60,
        countdown_max_seconds: 300,
    }
}

fn terms() -> Terms {
    Terms {
        kind: ListingKind::EquityTransfer,
        appraised_value: m("1000000"),
        appraisal_date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        listing_price: m("1000000"),
        deposit: m("300000"),
        increment: m("10000"),
        disclosure_working_days: 20,
        free_bidding_seconds: 3600,
        countdown_seconds: 300,
        consent_document: None,
        round: 1,
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

fn code(t: &Terms) -> Option<&'static str> {
    check_terms(&policy(), t, today()).err().map(|v| v.code)
}

#[test]
fn the_happy_path_walks_from_draft_to_closed() {
    let steps = [
        (Action::Edit, S::Draft),
        (Action::Submit, S::Submitted),
        (Action::Approve, S::Disclosure),
        (Action::EndDisclosure { eligible: 2 }, S::Disclosure),
        (Action::ScheduleAuction, S::AuctionScheduled),
        (Action::StartBidding, S::Bidding),
        (Action::CloseAuction { bids: 3 }, S::Awarded),
        (Action::SignContract, S::ContractSigned),
        (Action::ConfirmPayment, S::Paid),
        (Action::Announce, S::Announced),
        (Action::Close, S::Closed),
    ];
    let mut s = S::Draft;
    for (action, expected) in steps {
        s = transition(s, action).unwrap();
        assert_eq!(s, expected, "{action:?}");
    }
}

#[test]
fn disclosure_outcome_depends_on_eligible_bidders() {
    assert_eq!(
        transition(S::Disclosure, Action::EndDisclosure { eligible: 0 }),
        Ok(S::NoSale)
    );
    assert_eq!(
        transition(S::Disclosure, Action::EndDisclosure { eligible: 1 }),
        Ok(S::Negotiation)
    );
    assert_eq!(transition(S::Negotiation, Action::Quote), Ok(S::Awarded));
    assert_eq!(
        transition(S::Bidding, Action::CloseAuction { bids: 0 }),
        Ok(S::Failed)
    );
}

#[test]
fn return_and_resubmit_loop() {
    let s = transition(S::Submitted, Action::Return).unwrap();
    assert_eq!(s, S::Returned);
    assert_eq!(transition(s, Action::Edit), Ok(S::Returned));
    assert_eq!(transition(s, Action::Submit), Ok(S::Submitted));
}

#[test]
fn suspension_only_from_disclosure_up_to_award_and_back_to_where_it_was() {
    for s in [
        S::Disclosure,
        S::Negotiation,
        S::AuctionScheduled,
        S::Bidding,
    ] {
        assert_eq!(transition(s, Action::Suspend), Ok(S::Suspended));
        assert_eq!(transition(S::Suspended, Action::Resume { to: s }), Ok(s));
    }
    for s in [S::Draft, S::Submitted, S::Awarded, S::Closed, S::Suspended] {
        assert!(transition(s, Action::Suspend).is_err(), "{s:?}");
    }
    assert!(transition(S::Suspended, Action::Resume { to: S::Closed }).is_err());
    assert!(transition(S::Disclosure, Action::Resume { to: S::Disclosure }).is_err());
}

#[test]
fn terminate_is_final_and_allowed_from_anything_open() {
    for s in ListingStatus::ALL {
        let r = transition(s, Action::Terminate);
        if matches!(s, S::Closed | S::Terminated) {
            assert!(r.is_err());
        } else {
            assert_eq!(r, Ok(S::Terminated));
        }
    }
    for a in [
        Action::Edit,
        Action::Submit,
        Action::Resume { to: S::Disclosure },
        Action::Relist,
    ] {
        assert!(transition(S::Terminated, a).is_err());
    }
}

#[test]
fn a_default_keeps_the_award_for_the_runner_up_or_fails_the_listing() {
    assert_eq!(
        transition(S::Awarded, Action::Default { runner_up: true }),
        Ok(S::Awarded)
    );
    assert_eq!(
        transition(S::Awarded, Action::Default { runner_up: false }),
        Ok(S::Failed)
    );
    assert_eq!(transition(S::Awarded, Action::EndOffer), Ok(S::Failed));
    for s in [S::ContractSigned, S::Paid, S::Bidding, S::Failed] {
        assert!(transition(s, Action::Default { runner_up: false }).is_err());
        assert!(transition(s, Action::EndOffer).is_err());
    }
}

#[test]
fn a_suspension_expires_at_the_same_instant_months_later() {
    let since = Utc.with_ymd_and_hms(2026, 1, 31, 3, 0, 0).unwrap();
    // One month after 31 January is the end of February.
    let limit = Utc.with_ymd_and_hms(2026, 2, 28, 3, 0, 0).unwrap();
    assert!(!suspension_expired(
        since,
        1,
        limit - chrono::Duration::microseconds(1)
    ));
    assert!(suspension_expired(since, 1, limit));
    assert!(suspension_expired(
        since,
        1,
        limit + chrono::Duration::days(1)
    ));
}

#[test]
fn relisting_only_after_no_sale_or_failure() {
    assert_eq!(transition(S::NoSale, Action::Relist), Ok(S::Submitted));
    assert_eq!(transition(S::Failed, Action::Relist), Ok(S::Submitted));
    assert!(transition(S::Disclosure, Action::Relist).is_err());
}

#[test]
fn wrong_moves_name_the_state_and_action() {
    let e = transition(S::Draft, Action::Approve).unwrap_err();
    assert_eq!(e.to_string(), "a listing that is draft cannot approve");
    assert!(transition(S::Draft, Action::EndDisclosure { eligible: 1 }).is_err());
    assert!(transition(S::Disclosure, Action::CloseAuction { bids: 1 }).is_err());
}

#[test]
fn valid_terms_pass() {
    assert_eq!(code(&terms()), None);
}

#[test]
fn first_round_below_appraisal_is_refused_even_with_consent() {
    let mut t = terms();
    t.listing_price = m("999999.99");
    t.deposit = m("1");
    assert_eq!(code(&t), Some("price_below_appraisal"));
    t.consent_document = Some("国资产权〔2026〕1号".into());
    assert_eq!(code(&t), Some("price_below_appraisal"));
}

#[test]
fn later_rounds_may_go_to_ninety_percent_and_below_only_with_consent() {
    let mut t = terms();
    t.round = 2;
    t.deposit = m("1");
    t.listing_price = m("900000.00");
    assert_eq!(code(&t), None);
    t.listing_price = m("899999.99");
    assert_eq!(code(&t), Some("consent_required"));
    t.consent_document = Some("  ".into());
    assert_eq!(code(&t), Some("consent_required"));
    t.consent_document = Some("国资产权〔2026〕7号".into());
    assert_eq!(code(&t), None);
}

#[test]
fn deposit_at_thirty_percent_passes_and_a_fen_more_does_not() {
    let mut t = terms();
    t.deposit = m("300000.00");
    assert_eq!(code(&t), None);
    t.deposit = m("300000.01");
    assert_eq!(code(&t), Some("deposit_too_high"));
    t.deposit = m("0");
    assert_eq!(code(&t), Some("invalid_deposit"));
}

#[test]
fn increment_must_be_positive() {
    let mut t = terms();
    t.increment = m("0");
    assert_eq!(code(&t), Some("invalid_increment"));
}

#[test]
fn disclosure_minimum_follows_kind_and_price_band() {
    let p = policy();
    assert_eq!(
        p.min_disclosure_days(ListingKind::EquityTransfer, m("1")),
        20
    );
    assert_eq!(
        p.min_disclosure_days(ListingKind::CapitalIncrease, m("1")),
        40
    );
    assert_eq!(
        p.min_disclosure_days(ListingKind::AssetTransfer, m("10000000.00")),
        20
    );
    assert_eq!(
        p.min_disclosure_days(ListingKind::AssetTransfer, m("9999999.99")),
        10
    );
    assert_eq!(
        p.min_disclosure_days(ListingKind::AssetTransfer, m("1000000.00")),
        10
    );
    assert_eq!(
        p.min_disclosure_days(ListingKind::AssetTransfer, m("999999.99")),
        5
    );
    let mut t = terms();
    t.disclosure_working_days = 19;
    assert_eq!(code(&t), Some("disclosure_too_short"));
    t.kind = ListingKind::CapitalIncrease;
    t.disclosure_working_days = 39;
    assert_eq!(code(&t), Some("disclosure_too_short"));
    t.disclosure_working_days = 250;
    assert_eq!(code(&t), None);
    t.disclosure_working_days = 251;
    assert_eq!(code(&t), Some("disclosure_too_long"));
}

#[test]
fn bidding_periods_must_be_within_bounds() {
    let mut t = terms();
    t.countdown_seconds = 59;
    assert_eq!(code(&t), Some("bidding_period_out_of_range"));
    t.countdown_seconds = 300;
    t.free_bidding_seconds = 86_401;
    assert_eq!(code(&t), Some("bidding_period_out_of_range"));
}

#[test]
fn appraisal_is_valid_for_a_year() {
    let p = policy();
    let d = NaiveDate::from_ymd_opt(2025, 11, 28).unwrap();
    assert!(check_appraisal_valid(&p, d, NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()).is_ok());
    let e =
        check_appraisal_valid(&p, d, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()).unwrap_err();
    assert_eq!(e.code, "appraisal_expired");
}

#[test]
fn an_appraisal_expires_on_its_anniversary() {
    let d = NaiveDate::from_ymd_opt(2025, 11, 28).unwrap();
    let on = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    assert!(!appraisal_expired(d, 12, on(2026, 11, 27)));
    assert!(appraisal_expired(d, 12, on(2026, 11, 28)));
    assert!(appraisal_expired(d, 12, on(2026, 11, 29)));
    // A leap day's anniversary is the end of February.
    let leap = on(2024, 2, 29);
    assert!(!appraisal_expired(leap, 12, on(2025, 2, 27)));
    assert!(appraisal_expired(leap, 12, on(2025, 2, 28)));
}

#[test]
fn relisting_stops_twelve_months_after_the_first_disclosure() {
    let p = policy();
    let first = Utc.with_ymd_and_hms(2025, 11, 27, 8, 0, 0).unwrap();
    assert!(check_relist_window(&p, Some(first), first + chrono::Duration::days(364)).is_ok());
    let e = check_relist_window(
        &p,
        Some(first),
        Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.code, "reappraisal_required");
    assert!(check_relist_window(&p, None, first).is_ok());
}

#[test]
fn a_late_scheduler_does_not_change_what_readers_see() {
    let end = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let before = end - chrono::Duration::seconds(1);
    assert_eq!(
        effective_status(S::Disclosure, Some(end), false, before, || 0),
        S::Disclosure
    );
    assert_eq!(
        effective_status(S::Disclosure, Some(end), false, end, || 0),
        S::NoSale
    );
    assert_eq!(
        effective_status(S::Disclosure, Some(end), false, end, || 1),
        S::Negotiation
    );
    assert_eq!(
        effective_status(S::Disclosure, Some(end), true, end, || 0),
        S::Disclosure
    );
}

#[test]
fn an_appraisal_dated_today_passes_and_tomorrow_is_refused() {
    let mut t = terms();
    t.appraisal_date = today();
    assert_eq!(code(&t), None);
    t.appraisal_date = today().succ_opt().unwrap();
    assert_eq!(code(&t), Some("invalid_appraisal_date"));
}
