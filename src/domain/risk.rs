//! Risk rules (风险预警): what a supervisor looks for in a listing, its rounds, registrations,
//! bids and deal. Pure functions over facts; none of them blocks anything. Each rule has a
//! stable id, a severity and an explanation an auditor can read; its thresholds come from
//! [`RiskPolicy`] (configuration). A finding names a `subject`, and the store keeps one alert
//! per rule and subject, so evaluating the same facts twice raises nothing new.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};

use super::money::Money;

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
}

impl Rule {
    pub const ALL: [Rule; 16] = [
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
            | Rule::ContractOverdue => Severity::Medium,
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

/// The price facts of one round of a listing.
#[derive(Debug, Clone)]
pub struct RoundPrice {
    pub listing_id: i64,
    pub round: u32,
    pub appraised: Money,
    pub listing_price: Money,
    pub consent_document: Option<String>,
}

fn has_consent(c: &Option<String>) -> bool {
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
    fn subject(&self) -> String {
        round_subject("deal", self.listing_id, self.round)
    }

    fn price_cuts(&self) -> usize {
        self.round_prices.windows(2).filter(|w| w[1] < w[0]).count()
    }
}

/// Rules 1, 2 and 3 at the award: price against the appraisal, a single bidder, an old appraisal.
pub fn deal_rules(policy: &RiskPolicy, d: &DealFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    if d.price < d.appraised && !has_consent(&d.consent_document) {
        out.push(
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
    // price < appraised × floor%, compared exactly as price × 100 < appraised × floor%.
    if !d
        .price
        .at_least_share_of(d.appraised, policy.deal_floor_percent, 100)
    {
        out.push(
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
        out.push(f);
    }
    let expires = d
        .appraisal_date
        .checked_add_months(Months::new(policy.appraisal_max_age_months))
        .unwrap_or(NaiveDate::MAX);
    if d.awarded_on > expires {
        out.push(
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
    out
}

// ----- the auction --------------------------------------------------------------------------

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
    let subject = round_subject("auction", a.listing_id, a.round);
    let mut out = Vec::new();
    let eligible = a.eligible.len();
    if let Some(last) = a.bids.last()
        && last.amount == a.start_price
    {
        out.push(
            Finding::new(
                Rule::NoRaiseAward,
                subject.clone(),
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
    let countdown: Vec<&BidFact> = a
        .bids
        .iter()
        .filter(|b| b.placed_at >= a.free_ends_at)
        .collect();
    let active: BTreeSet<i64> = countdown.iter().map(|b| b.registration_id).collect();
    let min_active = usize::try_from(policy.countdown_min_active_bidders).unwrap_or(usize::MAX);
    if !a.bids.is_empty() && eligible >= 2 && active.len() < min_active {
        out.push(
            Finding::new(
                Rule::LoneCountdownBidder,
                subject.clone(),
                format!(
                    "{} bidder(s) competed in the countdown although {eligible} were eligible.",
                    active.len()
                ),
            )
            .with("countdown_bidders", active.len())
            .with("eligible_bidders", eligible),
        );
    }
    let window = Duration::seconds(policy.snipe_window_seconds);
    let late = countdown
        .iter()
        .filter(|b| b.end_before - b.placed_at <= window)
        .count();
    let n = countdown.len();
    let share_met = late * 100 >= n * usize::try_from(policy.snipe_share_percent).unwrap_or(100);
    if n > 0 && n >= usize::try_from(policy.snipe_min_bids).unwrap_or(usize::MAX) && share_met {
        out.push(
            Finding::new(
                Rule::CountdownSniping,
                subject.clone(),
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
        out.push(
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
    out
}

fn join(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

// ----- related parties ----------------------------------------------------------------------

/// Who is behind a registration (or the seller): what could tie two parties together.
#[derive(Debug, Clone, Default)]
pub struct Party {
    /// None for the seller.
    pub registration_id: Option<i64>,
    /// The bidder code, or `seller`.
    pub label: String,
    pub organization_id: i64,
    pub credit_code: String,
    pub phones: BTreeSet<String>,
    /// Lower-case e-mail domains.
    pub email_domains: BTreeSet<String>,
    pub ips: BTreeSet<String>,
}

/// What two parties share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Shared {
    same_org: bool,
    ips: Vec<String>,
    phone: bool,
    domains: Vec<String>,
}

impl Shared {
    fn any(&self) -> bool {
        self.same_org || !self.ips.is_empty() || self.phone || !self.domains.is_empty()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.same_org {
            parts.push("the same organisation or credit code".to_string());
        }
        if !self.ips.is_empty() {
            parts.push(format!("{} IP address(es)", self.ips.len()));
        }
        if self.phone {
            parts.push("a phone number".to_string());
        }
        if !self.domains.is_empty() {
            parts.push(format!("the e-mail domain {}", self.domains.join(", ")));
        }
        parts.join(", ")
    }
}

/// Whether an e-mail domain says something: not a public provider, and few accounts use it.
fn telling_domain(policy: &RiskPolicy, domain: &str, accounts: &BTreeMap<String, u32>) -> bool {
    !policy.public_mail_domains.contains(domain)
        && accounts.get(domain).copied().unwrap_or(0) <= policy.small_domain_max_accounts
}

fn shared(
    policy: &RiskPolicy,
    a: &Party,
    b: &Party,
    domain_accounts: &BTreeMap<String, u32>,
) -> Shared {
    Shared {
        same_org: a.organization_id == b.organization_id || a.credit_code == b.credit_code,
        ips: a.ips.intersection(&b.ips).cloned().collect(),
        phone: a.phones.intersection(&b.phones).next().is_some(),
        domains: a
            .email_domains
            .intersection(&b.email_domains)
            .filter(|d| telling_domain(policy, d, domain_accounts))
            .cloned()
            .collect(),
    }
}

/// Rule 5 over one round's registrations: pairs of bidders that share something, and
/// bidders tied to the seller. `domain_accounts` counts accounts per e-mail domain.
pub fn related_parties(
    policy: &RiskPolicy,
    listing_id: i64,
    round: u32,
    seller: &Party,
    bidders: &[Party],
    domain_accounts: &BTreeMap<String, u32>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, a) in bidders.iter().enumerate() {
        for b in &bidders[i + 1..] {
            let s = shared(policy, a, b, domain_accounts);
            if !s.any() {
                continue;
            }
            let (x, y) = match (a.registration_id, b.registration_id) {
                (Some(x), Some(y)) => (x.min(y), x.max(y)),
                _ => continue,
            };
            out.push(
                Finding::new(
                    Rule::RelatedBidders,
                    format!("listing:{listing_id}:round:{round}:pair:{x}-{y}"),
                    format!(
                        "Bidders {} and {} share {}.",
                        a.label,
                        b.label,
                        s.describe()
                    ),
                )
                .with("registrations", format!("{x},{y}"))
                .with("ips", s.ips.join(","))
                .with("email_domains", s.domains.join(","))
                .with("phone", s.phone)
                .with("same_organization", s.same_org),
            );
        }
        let s = shared(policy, seller, a, domain_accounts);
        if let (true, Some(reg)) = (s.any(), a.registration_id) {
            out.push(
                Finding::new(
                    Rule::BidderRelatedToSeller,
                    format!("listing:{listing_id}:round:{round}:registration:{reg}"),
                    format!(
                        "Bidder {} shares {} with the seller.",
                        a.label,
                        s.describe()
                    ),
                )
                .with("registration", reg)
                .with("ips", s.ips.join(","))
                .with("email_domains", s.domains.join(","))
                .with("phone", s.phone)
                .with("same_organization", s.same_org),
            );
        }
    }
    out
}

/// The e-mail domain of an address, lower-case.
pub fn email_domain(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_lowercase())
        .filter(|d| !d.is_empty())
}

/// Addresses that say nothing about a client: loopback and unspecified ones (a proxy in front
/// of the app without `trust_forwarded_for`, or a local test).
pub fn telling_ip(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|a| !a.is_loopback() && !a.is_unspecified())
}

// ----- periods ------------------------------------------------------------------------------

/// Rule 6: the disclosure lasted `actual` working days; it should have lasted `required`
/// (the longer of the announced period and the regulatory minimum).
pub fn short_disclosure(
    listing_id: i64,
    round: u32,
    actual: u32,
    required: u32,
) -> Option<Finding> {
    (actual < required).then(|| {
        Finding::new(
            Rule::ShortDisclosure,
            round_subject("listing", listing_id, round),
            format!(
                "Round {round} is disclosed for {actual} working day(s); it needs at least {required}."
            ),
        )
        .with("working_days", actual)
        .with("required_working_days", required)
    })
}

/// Rule 6: the deal announcement was public for `days` working days before the deal closed.
pub fn short_announcement(
    policy: &RiskPolicy,
    listing_id: i64,
    round: u32,
    days: u32,
) -> Option<Finding> {
    (days < policy.announcement_min_working_days).then(|| {
        Finding::new(
            Rule::ShortAnnouncement,
            round_subject("deal", listing_id, round),
            format!(
                "The deal announcement was public for {days} working day(s) before closing; at least {} are required.",
                policy.announcement_min_working_days
            ),
        )
        .with("working_days", days)
        .with("required_working_days", policy.announcement_min_working_days)
    })
}

/// Rule 7: an organisation had `forfeits` deposits forfeited within the window.
pub fn repeated_forfeits(
    policy: &RiskPolicy,
    organization_id: i64,
    organization: &str,
    forfeits: u32,
) -> Option<Finding> {
    (policy.forfeits_alert_count > 0 && forfeits >= policy.forfeits_alert_count).then(|| {
        Finding::new(
            Rule::RepeatedForfeits,
            format!("org:{organization_id}"),
            format!(
                "{organization} has had {forfeits} deposits forfeited within {} days.",
                policy.forfeits_window_days
            ),
        )
        .with("forfeits", forfeits)
        .with("window_days", policy.forfeits_window_days)
    })
}

/// A suspension that started at `since` and outlasted the allowed months.
pub fn suspension_overdue(listing_id: i64, since: DateTime<Utc>, max_months: u32) -> Finding {
    Finding::new(
        Rule::SuspensionOverdue,
        format!("listing:{listing_id}:suspended:{}", since.timestamp()),
        format!(
            "Suspended since {} (UTC), longer than the {max_months} month(s) allowed.",
            since.format("%Y-%m-%d %H:%M")
        ),
    )
    .with("suspended_at", since.to_rfc3339())
}

/// A contract not signed by its deadline.
pub fn contract_overdue(
    listing_id: i64,
    round: u32,
    bidder_code: &str,
    due: DateTime<Utc>,
) -> Finding {
    Finding::new(
        Rule::ContractOverdue,
        format!("{}:{bidder_code}", round_subject("deal", listing_id, round)),
        format!(
            "Winner {bidder_code} had not signed the contract by its deadline {} (UTC).",
            due.format("%Y-%m-%d %H:%M")
        ),
    )
    .with("contract_due_at", due.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_appraisal_twelve_months_old_is_fine_one_day_more_fires() {
        let p = policy();
        let mut d = deal("1000000.00");
        d.appraisal_date = NaiveDate::from_ymd_opt(2025, 11, 27).unwrap();
        assert!(deal_rules(&p, &d).is_empty());
        d.appraisal_date = NaiveDate::from_ymd_opt(2025, 11, 26).unwrap();
        assert_eq!(rules(&deal_rules(&p, &d)), ["stale_appraisal"]);
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
    }
}
