//! Risk rules (风险预警): what a supervisor looks for in a listing, its rounds, registrations,
//! bids and deal. Pure functions over facts; none of them blocks anything. Each rule has a
//! stable id, a severity and an explanation an auditor can read; its thresholds come from
//! [`RiskPolicy`] (configuration). A finding names a `subject`, and the store keeps one alert
//! per rule and subject, so evaluating the same facts twice raises nothing new.

use std::collections::{BTreeMap, BTreeSet};

use super::money::Money;

mod auction;
mod parties;
mod periods;
mod prices;
#[cfg(test)]
mod tests;

pub use auction::{AuctionFacts, BidFact, auction_rules, preemptive_match_at_start};
pub use parties::{Party, email_domain, related_parties, telling_ip};
pub use periods::{
    contract_overdue, payment_overdue, repeated_forfeits, short_announcement, short_disclosure,
    suspension_overdue,
};
pub use prices::{
    DealFacts, RoundPrice, deal_rules, listing_price_below_appraisal, repeated_relisting,
};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Severity::Low, Severity::Medium, Severity::High]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Every rule the engine knows, with its id, severity and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    PriceBelowAppraisal,
    DealBelowFloor,
    SingleBidderDeal,
    RepeatedRelisting,
    StaleAppraisal,
    NoRaiseAward,
    LoneCountdownBidder,
    RelatedBidders,
    BidderRelatedToSeller,
    ShortDisclosure,
    ShortAnnouncement,
    CountdownSniping,
    SilentBidders,
    RepeatedForfeits,
    SuspensionOverdue,
    ContractOverdue,
    PaymentOverdue,
    PreemptiveMatchAtStart,
}

impl Rule {
    pub const ALL: [Rule; 18] = [
        Rule::PriceBelowAppraisal,
        Rule::DealBelowFloor,
        Rule::SingleBidderDeal,
        Rule::RepeatedRelisting,
        Rule::StaleAppraisal,
        Rule::NoRaiseAward,
        Rule::LoneCountdownBidder,
        Rule::RelatedBidders,
        Rule::BidderRelatedToSeller,
        Rule::ShortDisclosure,
        Rule::ShortAnnouncement,
        Rule::CountdownSniping,
        Rule::SilentBidders,
        Rule::RepeatedForfeits,
        Rule::SuspensionOverdue,
        Rule::ContractOverdue,
        Rule::PaymentOverdue,
        Rule::PreemptiveMatchAtStart,
    ];

    /// The stable id clients filter on.
    pub fn id(self) -> &'static str {
        match self {
            Rule::PriceBelowAppraisal => "price_below_appraisal",
            Rule::DealBelowFloor => "deal_below_floor",
            Rule::SingleBidderDeal => "single_bidder_deal",
            Rule::RepeatedRelisting => "repeated_relisting",
            Rule::StaleAppraisal => "stale_appraisal",
            Rule::NoRaiseAward => "no_raise_award",
            Rule::LoneCountdownBidder => "lone_countdown_bidder",
            Rule::RelatedBidders => "related_bidders",
            Rule::BidderRelatedToSeller => "bidder_related_to_seller",
            Rule::ShortDisclosure => "short_disclosure",
            Rule::ShortAnnouncement => "short_announcement",
            Rule::CountdownSniping => "countdown_sniping",
            Rule::SilentBidders => "silent_bidders",
            Rule::RepeatedForfeits => "repeated_forfeits",
            Rule::SuspensionOverdue => "suspension_overdue",
            Rule::ContractOverdue => "contract_overdue",
            Rule::PaymentOverdue => "payment_overdue",
            Rule::PreemptiveMatchAtStart => "preemptive_match_at_start",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.id() == s)
    }

    /// The rule's usual severity (a finding may raise it, e.g. a single-bidder deal after
    /// price cuts).
    pub fn severity(self) -> Severity {
        match self {
            Rule::PriceBelowAppraisal
            | Rule::DealBelowFloor
            | Rule::RelatedBidders
            | Rule::BidderRelatedToSeller
            | Rule::ShortDisclosure
            | Rule::RepeatedForfeits
            | Rule::SuspensionOverdue => Severity::High,
            Rule::SingleBidderDeal
            | Rule::RepeatedRelisting
            | Rule::StaleAppraisal
            | Rule::NoRaiseAward
            | Rule::LoneCountdownBidder
            | Rule::ShortAnnouncement
            | Rule::CountdownSniping
            | Rule::ContractOverdue
            | Rule::PaymentOverdue
            | Rule::PreemptiveMatchAtStart => Severity::Medium,
            Rule::SilentBidders => Severity::Low,
        }
    }

    /// What the rule looks for, for people.
    pub fn description(self) -> &'static str {
        match self {
            Rule::PriceBelowAppraisal => {
                "A listing or deal price below the appraised value without an approving body's consent reference."
            }
            Rule::DealBelowFloor => {
                "A deal price below the configured share (90 %) of the appraised value, with or without consent."
            }
            Rule::SingleBidderDeal => {
                "A negotiated deal with the only eligible bidder; more serious after price cuts."
            }
            Rule::RepeatedRelisting => "One asset relisted repeatedly or its price cut repeatedly.",
            Rule::StaleAppraisal => "The appraisal was older than its validity at the award.",
            Rule::NoRaiseAward => "An auction won at the start price: nobody raised.",
            Rule::LoneCountdownBidder => {
                "Fewer than the expected number of bidders competed in the countdown of an auction with several eligible bidders."
            }
            Rule::RelatedBidders => {
                "Bidders of different organisations on one listing share an IP address, a phone number or the e-mail domain of a small organisation."
            }
            Rule::BidderRelatedToSeller => {
                "A bidder is the seller's organisation or shares its credit code, phone number or e-mail domain."
            }
            Rule::ShortDisclosure => {
                "A disclosure shorter than the period announced or the regulatory minimum."
            }
            Rule::ShortAnnouncement => {
                "A deal closed before its announcement had been public for the minimum working days."
            }
            Rule::CountdownSniping => {
                "Bids clustered in the last seconds of the countdown, round after round."
            }
            Rule::SilentBidders => {
                "Bidders who registered and paid the deposit but never bid in the auction."
            }
            Rule::RepeatedForfeits => "One organisation's deposits forfeited repeatedly.",
            Rule::SuspensionOverdue => "A suspension has lasted longer than allowed.",
            Rule::ContractOverdue => "The winner did not sign the contract by its deadline.",
            Rule::PaymentOverdue => {
                "The buyer did not pay the price (or the first instalment) by its deadline."
            }
            Rule::PreemptiveMatchAtStart => {
                "A holder of the pre-emptive right won by matching the start price, with no other bid."
            }
        }
    }
}

/// Thresholds, from configuration.
#[derive(Debug, Clone)]
pub struct RiskPolicy {
    /// A deal below this percentage of the appraisal is flagged even with consent.
    pub deal_floor_percent: i64,
    /// Flag a listing when it reaches this round (1 = first listing).
    pub relist_alert_round: u32,
    /// Flag a listing when its price has been cut this many times.
    pub price_cut_alert_count: u32,
    /// An appraisal older than this at the award is flagged.
    pub appraisal_max_age_months: u32,
    /// Fewer distinct bidders than this in the countdown is flagged.
    pub countdown_min_active_bidders: u32,
    /// Shared e-mail domains of these public providers mean nothing.
    pub public_mail_domains: BTreeSet<String>,
    /// A domain with at most this many accounts on the platform is a small organisation's.
    pub small_domain_max_accounts: u32,
    /// A deal announcement should stay public at least this many working days.
    pub announcement_min_working_days: u32,
    /// A countdown bid placed with at most this many seconds left is "last-second".
    pub snipe_window_seconds: i64,
    /// Sniping needs at least this many countdown bids ...
    pub snipe_min_bids: u32,
    /// ... of which at least this percentage are last-second.
    pub snipe_share_percent: u32,
    /// Flag an auction when at least this many eligible bidders never bid.
    pub silent_bidders_min: u32,
    /// Flag an organisation with at least this many forfeited deposits ...
    pub forfeits_alert_count: u32,
    /// ... within this many days.
    pub forfeits_window_days: u32,
}

/// One thing the rules found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// What the alert is about; one alert per rule and subject.
    pub subject: String,
    /// The explanation for auditors (no personal data).
    pub detail: String,
    /// The facts behind it, as name/value pairs (auditors only).
    pub evidence: BTreeMap<String, String>,
}

impl Finding {
    fn new(rule: Rule, subject: String, detail: String) -> Self {
        Self {
            rule,
            severity: rule.severity(),
            subject,
            detail,
            evidence: BTreeMap::new(),
        }
    }

    fn with(mut self, name: &str, value: impl ToString) -> Self {
        self.evidence.insert(name.to_string(), value.to_string());
        self
    }
}

fn round_subject(kind: &str, listing_id: i64, round: u32) -> String {
    format!("{kind}:{listing_id}:round:{round}")
}

/// `part / whole` as a percentage with two decimals, for explanations.
fn percent(part: Money, whole: Money) -> String {
    if whole.is_zero() {
        return "-".into();
    }
    let p = part.decimal() * rust_decimal::Decimal::ONE_HUNDRED / whole.decimal();
    format!("{}%", p.round_dp(2))
}

// ----- prices -------------------------------------------------------------------------------

// ----- the auction --------------------------------------------------------------------------

// ----- related parties ----------------------------------------------------------------------

// ----- periods ------------------------------------------------------------------------------
