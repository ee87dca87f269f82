//! Related-party rules: bidders (and the seller) tied by an e-mail domain, a phone number or
//! an address they share.

use super::{Finding, RiskPolicy, Rule};
use std::collections::{BTreeMap, BTreeSet};

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
pub(super) struct Shared {
    pub(super) same_org: bool,
    pub(super) ips: Vec<String>,
    pub(super) phone: bool,
    pub(super) domains: Vec<String>,
}

impl Shared {
    pub(super) fn any(&self) -> bool {
        self.same_org || !self.ips.is_empty() || self.phone || !self.domains.is_empty()
    }

    pub(super) fn describe(&self) -> String {
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
pub(super) fn telling_domain(
    policy: &RiskPolicy,
    domain: &str,
    accounts: &BTreeMap<String, u32>,
) -> bool {
    !policy.public_mail_domains.contains(domain)
        && accounts.get(domain).copied().unwrap_or(0) <= policy.small_domain_max_accounts
}

pub(super) fn shared(
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
