//! Raises risk alerts inside the transactions that change the facts the rules read: a
//! submitted or relisted listing, an opened or resumed disclosure, a registration, a bid from
//! an address another bidder used, a closed auction, an award, a forfeited deposit, a closed
//! deal and the scheduler's overdue checks. Each new alert is written with its audit event;
//! one that exists already (same rule and subject) is left alone.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::ExchangeRules;
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::domain::calendar::Calendar;
use crate::domain::listing::ListingKind;
use crate::domain::money::Money;
use crate::domain::risk::{
    self, AuctionFacts, BidFact, DealFacts, Finding, Party, RoundPrice, email_domain, telling_ip,
};
use crate::error::AppError;
use crate::store::alerts::{self as store, NewAlert};
use crate::store::auctions::{self as auctions_store, AuctionRow};
use crate::store::deals::DealRow;
use crate::store::listings::ListingRow;
use crate::store::models::from_db;
use crate::store::risk as facts;
use crate::store::{Conn, registrations};

/// Writes each finding that is new as an alert, with an `alert.raised` event on the
/// listing's stream (or the organisation's). Returns how many were new.
fn raise(
    conn: &mut Conn,
    now: DateTime<Utc>,
    findings: Vec<Finding>,
    listing_id: Option<i64>,
    organization_id: Option<i64>,
) -> Result<usize, AppError> {
    let mut raised = 0;
    for f in findings {
        let evidence = serde_json::to_string(&f.evidence).map_err(AppError::internal)?;
        let Some(row) = store::raise(
            conn,
            &NewAlert {
                rule: f.rule.id(),
                severity: f.severity.as_str(),
                subject: &f.subject,
                listing_id,
                organization_id,
                detail: &f.detail,
                evidence: &evidence,
                now,
            },
        )?
        else {
            continue;
        };
        let stream = match (listing_id, organization_id) {
            (Some(id), _) => format!("listing:{id}"),
            (None, Some(org)) => audit::org_stream(org),
            (None, None) => audit::SYSTEM_STREAM.to_string(),
        };
        audit::record(
            conn,
            now,
            Event {
                stream,
                action: "alert.raised",
                actor: Actor::SYSTEM,
                payload: json!({
                    "alert_id": row.id, "rule": row.rule, "severity": row.severity,
                    "subject": row.subject, "listing_id": listing_id, "detail": row.detail,
                }),
                meta: &RequestMeta::default(),
            },
        )?;
        raised += 1;
    }
    Ok(raised)
}

fn money(fen: i64) -> Money {
    Money::from_fen(fen)
}

fn round_of(row: &ListingRow) -> u32 {
    u32::try_from(row.round).unwrap_or(0)
}

/// Listing prices of every round up to the current one, oldest first.
fn round_prices(conn: &mut Conn, row: &ListingRow) -> Result<Vec<Money>, AppError> {
    let mut prices: Vec<Money> = facts::prior_round_prices(conn, row.id, row.round)?
        .into_iter()
        .map(money)
        .collect();
    prices.push(money(row.listing_price));
    Ok(prices)
}

/// A listing (round) was submitted: its price against the appraisal, and its history.
pub fn on_submitted(
    conn: &mut Conn,
    rules: &ExchangeRules,
    row: &ListingRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut found: Vec<Finding> = risk::listing_price_below_appraisal(&RoundPrice {
        listing_id: row.id,
        round: round_of(row),
        appraised: money(row.appraised_value),
        listing_price: money(row.listing_price),
        consent_document: row.consent_document.clone(),
    })
    .into_iter()
    .collect();
    let prices = round_prices(conn, row)?;
    found.extend(risk::repeated_relisting(&rules.risk, row.id, &prices));
    raise(conn, now, found, Some(row.id), Some(row.organization_id))
}

/// A disclosure was opened or resumed: its length against the announced period and the
/// regulatory minimum.
pub fn on_disclosure(
    conn: &mut Conn,
    rules: &ExchangeRules,
    row: &ListingRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let (Some(start), Some(end)) = (row.disclosure_start, row.disclosure_end) else {
        return Ok(0);
    };
    let actual = rules
        .calendar
        .working_days_between(
            Calendar::beijing_date(from_db(start)),
            Calendar::beijing_date(from_db(end)),
        )
        .value;
    let kind = ListingKind::parse(&row.kind).unwrap_or(ListingKind::AssetTransfer);
    let minimum = rules
        .policy
        .min_disclosure_days(kind, money(row.listing_price));
    let announced = u32::try_from(row.disclosure_working_days).unwrap_or(0);
    let found = risk::short_disclosure(row.id, round_of(row), actual, announced.max(minimum));
    raise(
        conn,
        now,
        found.into_iter().collect(),
        Some(row.id),
        Some(row.organization_id),
    )
}

/// A phone number as its digits, without China's country code, so `+86 138-0000-0000` and
/// `13800000000` compare equal.
fn phones(p: Option<&str>) -> BTreeSet<String> {
    p.map(|p| {
        let digits: String = p.chars().filter(char::is_ascii_digit).collect();
        match digits
            .strip_prefix("0086")
            .or_else(|| digits.strip_prefix("86"))
        {
            Some(rest) if rest.len() == 11 => rest.to_string(),
            _ => digits,
        }
    })
    .filter(|p| !p.is_empty())
    .into_iter()
    .collect()
}

fn telling(ips: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    ips.into_iter().filter(|ip| telling_ip(ip)).collect()
}

/// Who registered on the round, who sells, and what ties them: related-bidder rules.
pub fn on_registrations(
    conn: &mut Conn,
    rules: &ExchangeRules,
    row: &ListingRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let registrants = facts::registrants(conn, row.id, row.round)?;
    if registrants.is_empty() {
        return Ok(0);
    }
    let mut bid_ips: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (reg, ip) in facts::bid_addresses(conn, row.id)? {
        bid_ips.entry(reg).or_default().push(ip);
    }
    let bidders: Vec<Party> = registrants
        .into_iter()
        .map(|r| Party {
            registration_id: Some(r.registration_id),
            label: r
                .bidder_code
                .clone()
                .unwrap_or_else(|| format!("registration {}", r.registration_id)),
            organization_id: r.organization_id,
            credit_code: r.credit_code,
            phones: phones(r.phone.as_deref()),
            email_domains: email_domain(&r.email).into_iter().collect(),
            ips: telling(
                r.client_ip
                    .into_iter()
                    .chain(bid_ips.remove(&r.registration_id).unwrap_or_default()),
            ),
        })
        .collect();
    let s = facts::seller(conn, row.organization_id)?;
    let seller = Party {
        registration_id: None,
        label: "seller".into(),
        organization_id: row.organization_id,
        credit_code: s.credit_code,
        phones: s
            .contacts
            .iter()
            .flat_map(|(_, p)| phones(p.as_deref()))
            .collect(),
        email_domains: s
            .contacts
            .iter()
            .filter_map(|(e, _)| email_domain(e))
            .collect(),
        ips: telling(s.ips),
    };
    let domains: BTreeSet<String> = bidders
        .iter()
        .chain(std::iter::once(&seller))
        .flat_map(|p| p.email_domains.iter().cloned())
        .filter(|d| !rules.risk.public_mail_domains.contains(d))
        .collect();
    let accounts = facts::domain_accounts(conn, &domains.into_iter().collect::<Vec<_>>())?;
    let found = risk::related_parties(
        &rules.risk,
        row.id,
        round_of(row),
        &seller,
        &bidders,
        &accounts,
    );
    raise(conn, now, found, Some(row.id), Some(row.organization_id))
}

/// A bid was accepted: only if its address was used by another registration of the round
/// are the related-bidder rules run again (one indexed look-up per bid otherwise).
pub fn on_bid(
    conn: &mut Conn,
    rules: &ExchangeRules,
    row: &ListingRow,
    registration_id: i64,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    match ip {
        Some(ip)
            if telling_ip(ip)
                && facts::address_shared(conn, row.id, row.round, registration_id, ip)? =>
        {
            on_registrations(conn, rules, row, now)
        }
        _ => Ok(0),
    }
}

/// An auction closed (before its deposits are settled): how it was fought.
pub fn on_auction_closed(
    conn: &mut Conn,
    rules: &ExchangeRules,
    row: &ListingRow,
    auction: &AuctionRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let bids = auctions_store::bids(conn, auction.id, 0, i64::MAX)?;
    let countdown = Duration::seconds(i64::from(auction.countdown_seconds));
    let mut end = from_db(auction.free_ends_at) + countdown;
    let mut facts_bids = Vec::with_capacity(bids.len());
    for b in &bids {
        facts_bids.push(BidFact {
            registration_id: b.registration_id,
            amount: money(b.amount),
            placed_at: from_db(b.placed_at),
            end_before: end,
        });
        end = from_db(b.ends_at);
    }
    let eligible = registrations::of_round(conn, row.id, row.round)?
        .into_iter()
        .filter(super::registrations::may_bid)
        .map(|r| r.id)
        .collect();
    let found = risk::auction_rules(
        &rules.risk,
        &AuctionFacts {
            listing_id: row.id,
            round: round_of(row),
            start_price: money(auction.start_price),
            free_ends_at: from_db(auction.free_ends_at),
            bids: facts_bids,
            eligible,
        },
    );
    let matched: Vec<_> = bids
        .iter()
        .map(|b| (money(b.amount), b.kind == "match"))
        .collect();
    let found = found
        .into_iter()
        .chain(risk::preemptive_match_at_start(
            row.id,
            round_of(row),
            money(auction.start_price),
            &matched,
        ))
        .collect();
    let mut raised = raise(conn, now, found, Some(row.id), Some(row.organization_id))?;
    raised += on_registrations(conn, rules, row, now)?;
    Ok(raised)
}

/// A deal was awarded (auction or negotiation): price, single bidder, appraisal age.
pub fn on_award(
    conn: &mut Conn,
    rules: &ExchangeRules,
    row: &ListingRow,
    deal: &DealRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let d = DealFacts {
        listing_id: row.id,
        round: round_of(row),
        negotiated: deal.method == "negotiation",
        price: money(deal.price),
        appraised: money(row.appraised_value),
        appraisal_date: row.appraisal_date,
        consent_document: row.consent_document.clone(),
        round_prices: round_prices(conn, row)?,
        awarded_on: Calendar::beijing_date(from_db(deal.awarded_at)),
    };
    let found = risk::deal_rules(&rules.risk, &d);
    raise(conn, now, found, Some(row.id), Some(row.organization_id))
}

/// A deposit of `organization_id` was forfeited on `listing_id`.
pub fn on_forfeit(
    conn: &mut Conn,
    rules: &ExchangeRules,
    organization_id: i64,
    listing_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let since = now - Duration::days(i64::from(rules.risk.forfeits_window_days));
    let n = facts::forfeits_since(conn, organization_id, since)?;
    if n < rules.risk.forfeits_alert_count || rules.risk.forfeits_alert_count == 0 {
        return Ok(0);
    }
    let name = facts::organization_name(conn, organization_id)?;
    let found = risk::repeated_forfeits(&rules.risk, organization_id, &name, n);
    raise(
        conn,
        now,
        found.into_iter().collect(),
        Some(listing_id),
        Some(organization_id),
    )
}

/// A deal closed: how long its announcement was public.
pub fn on_deal_closed(
    conn: &mut Conn,
    rules: &ExchangeRules,
    row: &ListingRow,
    deal: &DealRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let Some(announced) = deal.announced_at else {
        return Ok(0);
    };
    let closed = deal.closed_at.map_or(now, from_db);
    let days = rules
        .calendar
        .working_days_between(
            Calendar::beijing_date(from_db(announced)),
            Calendar::beijing_date(closed),
        )
        .value;
    let found = risk::short_announcement(&rules.risk, row.id, round_of(row), days);
    raise(
        conn,
        now,
        found.into_iter().collect(),
        Some(row.id),
        Some(row.organization_id),
    )
}

/// The scheduler found a suspension that lasted too long.
pub fn on_suspension_overdue(
    conn: &mut Conn,
    rules: &ExchangeRules,
    row: &ListingRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let Some(since) = row.suspended_at else {
        return Ok(0);
    };
    let f = risk::suspension_overdue(row.id, from_db(since), rules.max_suspension_months);
    raise(conn, now, vec![f], Some(row.id), Some(row.organization_id))
}

/// The scheduler found a contract deadline that passed unsigned.
pub fn on_contract_overdue(
    conn: &mut Conn,
    deal: &DealRow,
    organization_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let f = risk::contract_overdue(
        deal.listing_id,
        u32::try_from(deal.round).unwrap_or(0),
        &deal.bidder_code,
        from_db(deal.contract_due_at),
    );
    raise(conn, now, vec![f], Some(deal.listing_id), organization_id)
}

/// The scheduler found a price (or a first instalment) not paid by its deadline.
pub fn on_payment_overdue(
    conn: &mut Conn,
    listing: &ListingRow,
    deal: &DealRow,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let outstanding = Money::from_fen(deal.price - deal.paid_total).to_string();
    let f = risk::payment_overdue(
        deal.listing_id,
        u32::try_from(deal.round).unwrap_or(0),
        &deal.bidder_code,
        due,
        &outstanding,
    );
    raise(
        conn,
        now,
        vec![f],
        Some(listing.id),
        Some(listing.organization_id),
    )
}
