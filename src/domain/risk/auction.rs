//! Auction rules: what the accepted bids of one auction tell.

use super::{Finding, RiskPolicy, Rule, round_subject};
use crate::domain::money::Money;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;

/// One accepted bid.
#[derive(Debug, Clone)]
pub struct BidFact {
    pub registration_id: i64,
    pub amount: Money,
    pub placed_at: DateTime<Utc>,
    /// The auction's end just before this bid was accepted.
    pub end_before: DateTime<Utc>,
}

/// A closed auction.
#[derive(Debug, Clone)]
pub struct AuctionFacts {
    pub listing_id: i64,
    pub round: u32,
    pub start_price: Money,
    pub free_ends_at: DateTime<Utc>,
    /// Bids in `seq` order.
    pub bids: Vec<BidFact>,
    /// Registrations that were eligible (qualified, deposit paid) when it closed.
    pub eligible: Vec<i64>,
}

/// Rules 4 and 7 over a closed auction.
pub fn auction_rules(policy: &RiskPolicy, a: &AuctionFacts) -> Vec<Finding> {
    let subject = || round_subject("auction", a.listing_id, a.round);
    let countdown: Vec<&BidFact> = a
        .bids
        .iter()
        .filter(|b| b.placed_at >= a.free_ends_at)
        .collect();
    [
        no_raise(a, subject()),
        lone_countdown_bidder(policy, a, &countdown, subject()),
        countdown_sniping(policy, &countdown, subject()),
        silent_bidders(policy, a, subject()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A right-holder won by matching the start price and nobody else bid again: the only other
/// bid was the one it matched. `bids` are `(amount, is_match)` in `seq` order.
pub fn preemptive_match_at_start(
    listing_id: i64,
    round: u32,
    start_price: Money,
    bids: &[(Money, bool)],
) -> Option<Finding> {
    match bids {
        [(first, false), (matched, true)] if *first == start_price && *matched == start_price => {
            Some(
                Finding::new(
                    Rule::PreemptiveMatchAtStart,
                    round_subject("auction", listing_id, round),
                    format!(
                        "A pre-emptive right-holder won at the start price {start_price} yuan by matching the only other bid."
                    ),
                )
                .with("start_price", start_price)
                .with("bids", bids.len()),
            )
        }
        _ => None,
    }
}

/// Won at the start price: nobody raised.
fn no_raise(a: &AuctionFacts, subject: String) -> Option<Finding> {
    let eligible = a.eligible.len();
    if let Some(last) = a.bids.last()
        && last.amount == a.start_price
    {
        return Some(
            Finding::new(
                Rule::NoRaiseAward,
                subject,
                format!(
                    "Won at the start price {} yuan with {} bid(s) and {eligible} eligible bidder(s): nobody raised.",
                    a.start_price,
                    a.bids.len()
                ),
            )
            .with("start_price", a.start_price)
            .with("bids", a.bids.len())
            .with("eligible_bidders", eligible),
        );
    }
    None
}

/// Fewer bidders competed in the countdown than the policy wants, though more were eligible.
fn lone_countdown_bidder(
    policy: &RiskPolicy,
    a: &AuctionFacts,
    countdown: &[&BidFact],
    subject: String,
) -> Option<Finding> {
    let eligible = a.eligible.len();
    let active: BTreeSet<i64> = countdown.iter().map(|b| b.registration_id).collect();
    let min_active = usize::try_from(policy.countdown_min_active_bidders).unwrap_or(usize::MAX);
    if !a.bids.is_empty() && eligible >= 2 && active.len() < min_active {
        return Some(
            Finding::new(
                Rule::LoneCountdownBidder,
                subject,
                format!(
                    "{} bidder(s) competed in the countdown although {eligible} were eligible.",
                    active.len()
                ),
            )
            .with("countdown_bidders", active.len())
            .with("eligible_bidders", eligible),
        );
    }
    None
}

/// Most countdown bids came in the last seconds of the countdown.
fn countdown_sniping(
    policy: &RiskPolicy,
    countdown: &[&BidFact],
    subject: String,
) -> Option<Finding> {
    let window = Duration::seconds(policy.snipe_window_seconds);
    let late = countdown
        .iter()
        .filter(|b| b.end_before - b.placed_at <= window)
        .count();
    let n = countdown.len();
    let share_met = late * 100 >= n * usize::try_from(policy.snipe_share_percent).unwrap_or(100);
    if n > 0 && n >= usize::try_from(policy.snipe_min_bids).unwrap_or(usize::MAX) && share_met {
        return Some(
            Finding::new(
                Rule::CountdownSniping,
                subject,
                format!(
                    "{late} of {n} countdown bids came in the last {} seconds of the countdown.",
                    policy.snipe_window_seconds
                ),
            )
            .with("late_bids", late)
            .with("countdown_bids", n)
            .with("window_seconds", policy.snipe_window_seconds),
        );
    }
    None
}

/// Eligible bidders who paid the deposit and never bid.
fn silent_bidders(policy: &RiskPolicy, a: &AuctionFacts, subject: String) -> Option<Finding> {
    let eligible = a.eligible.len();
    let bidders: BTreeSet<i64> = a.bids.iter().map(|b| b.registration_id).collect();
    let silent: Vec<i64> = a
        .eligible
        .iter()
        .copied()
        .filter(|r| !bidders.contains(r))
        .collect();
    if policy.silent_bidders_min > 0
        && silent.len() >= usize::try_from(policy.silent_bidders_min).unwrap_or(usize::MAX)
    {
        return Some(
            Finding::new(
                Rule::SilentBidders,
                subject,
                format!(
                    "{} of {eligible} eligible bidders paid the deposit and never bid.",
                    silent.len()
                ),
            )
            .with("silent_registrations", join(&silent))
            .with("eligible_bidders", eligible),
        );
    }
    None
}

pub(super) fn join(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}
