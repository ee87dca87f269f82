//! Price rules: a listing price below the appraisal without consent, repeated relisting, and
//! the deal rules (a single bidder, no raise over the starting price, a price cut).

use super::{Finding, RiskPolicy, Rule, Severity, percent, round_subject};
use crate::domain::money::Money;
use chrono::{Months, NaiveDate};

/// The price facts of one round of a listing.
#[derive(Debug, Clone)]
pub struct RoundPrice {
    pub listing_id: i64,
    pub round: u32,
    pub appraised: Money,
    pub listing_price: Money,
    pub consent_document: Option<String>,
}

pub(super) fn has_consent(c: &Option<String>) -> bool {
    c.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// Rule 1 on a listing: its price is below the appraisal and no consent is recorded.
pub fn listing_price_below_appraisal(p: &RoundPrice) -> Option<Finding> {
    (p.listing_price < p.appraised && !has_consent(&p.consent_document)).then(|| {
        Finding::new(
            Rule::PriceBelowAppraisal,
            round_subject("listing", p.listing_id, p.round),
            format!(
                "Round {} is listed at {} yuan, {} of the appraised value {} yuan, without a consent document.",
                p.round,
                p.listing_price,
                percent(p.listing_price, p.appraised),
                p.appraised
            ),
        )
        .with("listing_price", p.listing_price)
        .with("appraised_value", p.appraised)
    })
}

/// Listing prices of every round so far, oldest first.
pub fn repeated_relisting(
    policy: &RiskPolicy,
    listing_id: i64,
    prices: &[Money],
) -> Option<Finding> {
    let rounds = u32::try_from(prices.len()).unwrap_or(u32::MAX);
    let cuts = u32::try_from(prices.windows(2).filter(|w| w[1] < w[0]).count()).unwrap_or(0);
    let many_rounds = policy.relist_alert_round > 0 && rounds >= policy.relist_alert_round;
    let many_cuts = policy.price_cut_alert_count > 0 && cuts >= policy.price_cut_alert_count;
    if !(many_rounds || many_cuts) {
        return None;
    }
    let first = prices.first().copied().unwrap_or(Money::ZERO);
    let last = prices.last().copied().unwrap_or(Money::ZERO);
    Some(
        Finding::new(
            Rule::RepeatedRelisting,
            format!("listing:{listing_id}"),
            format!(
                "Listed {rounds} times with {cuts} price cuts: from {first} to {last} yuan ({} of the first price).",
                percent(last, first)
            ),
        )
        .with("rounds", rounds)
        .with("price_cuts", cuts)
        .with("first_price", first)
        .with("current_price", last),
    )
}

/// The facts of an awarded deal.
#[derive(Debug, Clone)]
pub struct DealFacts {
    pub listing_id: i64,
    pub round: u32,
    /// `auction` or `negotiation`.
    pub negotiated: bool,
    pub price: Money,
    pub appraised: Money,
    pub appraisal_date: NaiveDate,
    pub consent_document: Option<String>,
    /// Listing prices of every round, oldest first.
    pub round_prices: Vec<Money>,
    /// The Beijing date of the award.
    pub awarded_on: NaiveDate,
}

impl DealFacts {
    pub(super) fn subject(&self) -> String {
        round_subject("deal", self.listing_id, self.round)
    }

    pub(super) fn price_cuts(&self) -> usize {
        self.round_prices.windows(2).filter(|w| w[1] < w[0]).count()
    }
}

/// Rules 1, 2 and 3 at the award: price against the appraisal, a single bidder, an old appraisal.
pub fn deal_rules(policy: &RiskPolicy, d: &DealFacts) -> Vec<Finding> {
    [
        below_appraisal_without_consent(d),
        below_floor(policy, d),
        single_bidder(d),
        stale_appraisal(policy, d),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Awarded below the appraised value without a consent document.
fn below_appraisal_without_consent(d: &DealFacts) -> Option<Finding> {
    if d.price < d.appraised && !has_consent(&d.consent_document) {
        return Some(
            Finding::new(
                Rule::PriceBelowAppraisal,
                d.subject(),
                format!(
                    "Awarded at {} yuan, {} of the appraised value {} yuan, without a consent document.",
                    d.price,
                    percent(d.price, d.appraised),
                    d.appraised
                ),
            )
            .with("price", d.price)
            .with("appraised_value", d.appraised),
        );
    }
    None
}

/// Awarded below the configured share of the appraised value.
fn below_floor(policy: &RiskPolicy, d: &DealFacts) -> Option<Finding> {
    // price < appraised × floor%, compared exactly as price × 100 < appraised × floor%.
    if !d
        .price
        .at_least_share_of(d.appraised, policy.deal_floor_percent, 100)
    {
        return Some(
            Finding::new(
                Rule::DealBelowFloor,
                d.subject(),
                format!(
                    "Awarded at {} yuan, {} of the appraised value {} yuan (floor {} %).",
                    d.price,
                    percent(d.price, d.appraised),
                    d.appraised,
                    policy.deal_floor_percent
                ),
            )
            .with("price", d.price)
            .with("appraised_value", d.appraised)
            .with("floor_percent", policy.deal_floor_percent),
        );
    }
    None
}

/// Negotiated with the only eligible bidder (high after price cuts).
fn single_bidder(d: &DealFacts) -> Option<Finding> {
    if d.negotiated {
        let cuts = d.price_cuts();
        let mut f = Finding::new(
            Rule::SingleBidderDeal,
            d.subject(),
            if cuts > 0 {
                format!(
                    "Negotiated with the only eligible bidder at {} yuan after {cuts} price cuts.",
                    d.price
                )
            } else {
                format!(
                    "Negotiated with the only eligible bidder at {} yuan.",
                    d.price
                )
            },
        )
        .with("price", d.price)
        .with("price_cuts", cuts);
        if cuts > 0 {
            f.severity = Severity::High;
        }
        return Some(f);
    }
    None
}

/// Awarded on an appraisal older than allowed.
fn stale_appraisal(policy: &RiskPolicy, d: &DealFacts) -> Option<Finding> {
    let expires = d
        .appraisal_date
        .checked_add_months(Months::new(policy.appraisal_max_age_months))
        .unwrap_or(NaiveDate::MAX);
    if d.awarded_on > expires {
        return Some(
            Finding::new(
                Rule::StaleAppraisal,
                d.subject(),
                format!(
                    "Awarded on {} on an appraisal dated {}, older than {} months.",
                    d.awarded_on, d.appraisal_date, policy.appraisal_max_age_months
                ),
            )
            .with("appraisal_date", d.appraisal_date)
            .with("awarded_on", d.awarded_on),
        );
    }
    None
}
