//! Period rules: disclosures and announcements too short, deposits forfeited again and again,
//! suspensions and contracts overdue.

use super::{Finding, RiskPolicy, Rule, round_subject};
use chrono::{DateTime, Utc};

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
