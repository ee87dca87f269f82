//! The supervisor's dashboard figures: alert counts by rule, severity and month, and deal
//! figures (count and value by kind, share of single-bidder deals, average premiums). Exact
//! decimal arithmetic throughout.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::money::Money;

/// One alert, as the counts need it.
#[derive(Debug, Clone)]
pub struct AlertFigure {
    pub rule: String,
    pub severity: String,
    /// Beijing date of creation.
    pub created_on: NaiveDate,
    pub acknowledged: bool,
}

/// Alert counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertCounts {
    pub total: u64,
    pub open: u64,
    /// rule → (total, open)
    pub by_rule: BTreeMap<String, (u64, u64)>,
    pub by_severity: BTreeMap<String, u64>,
    /// `YYYY-MM` (Beijing) → count
    pub by_month: BTreeMap<String, u64>,
}

pub fn count_alerts(alerts: &[AlertFigure]) -> AlertCounts {
    let mut c = AlertCounts::default();
    for a in alerts {
        let open = u64::from(!a.acknowledged);
        c.total += 1;
        c.open += open;
        let r = c.by_rule.entry(a.rule.clone()).or_default();
        r.0 += 1;
        r.1 += open;
        *c.by_severity.entry(a.severity.clone()).or_default() += 1;
        *c.by_month
            .entry(a.created_on.format("%Y-%m").to_string())
            .or_default() += 1;
    }
    c
}

/// One awarded deal.
#[derive(Debug, Clone)]
pub struct DealFigure {
    pub kind: String,
    pub price: Money,
    pub listing_price: Money,
    pub appraised: Money,
    pub negotiated: bool,
}

/// Deal figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealSummary {
    pub deals: u64,
    /// kind → (deals, total value)
    pub by_kind: BTreeMap<String, (u64, Decimal)>,
    pub total_value: Decimal,
    pub single_bidder_deals: u64,
    /// Share of negotiated (single-bidder) deals, 0–1 with 4 decimals; None without deals.
    pub single_bidder_share: Option<Decimal>,
    /// Mean of (price − listing price) / listing price, in percent with 2 decimals.
    pub avg_premium_over_listing_percent: Option<Decimal>,
    /// Mean of (price − appraised value) / appraised value, in percent with 2 decimals.
    pub avg_premium_over_appraisal_percent: Option<Decimal>,
}

fn premium(price: Money, base: Money) -> Option<Decimal> {
    if base.is_zero() {
        return None;
    }
    Some((price.decimal() - base.decimal()) * Decimal::ONE_HUNDRED / base.decimal())
}

fn mean(values: &[Decimal], dp: u32) -> Option<Decimal> {
    if values.is_empty() {
        return None;
    }
    let sum: Decimal = values.iter().copied().sum();
    Some((sum / Decimal::from(values.len())).round_dp(dp))
}

pub fn summarize_deals(deals: &[DealFigure]) -> DealSummary {
    let mut by_kind: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
    let mut total = Decimal::ZERO;
    let mut single = 0u64;
    let mut over_listing = Vec::new();
    let mut over_appraisal = Vec::new();
    for d in deals {
        let k = by_kind.entry(d.kind.clone()).or_default();
        k.0 += 1;
        k.1 += d.price.decimal();
        total += d.price.decimal();
        single += u64::from(d.negotiated);
        over_listing.extend(premium(d.price, d.listing_price));
        over_appraisal.extend(premium(d.price, d.appraised));
    }
    let n = u64::try_from(deals.len()).unwrap_or(u64::MAX);
    DealSummary {
        deals: n,
        by_kind,
        total_value: total,
        single_bidder_deals: single,
        single_bidder_share: (n > 0)
            .then(|| (Decimal::from(single) / Decimal::from(n)).round_dp(4)),
        avg_premium_over_listing_percent: mean(&over_listing, 2),
        avg_premium_over_appraisal_percent: mean(&over_appraisal, 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn alerts_are_counted_by_rule_severity_and_beijing_month() {
        let a = |rule: &str, sev: &str, date: (i32, u32, u32), ack: bool| AlertFigure {
            rule: rule.into(),
            severity: sev.into(),
            created_on: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
            acknowledged: ack,
        };
        let c = count_alerts(&[
            a("single_bidder_deal", "medium", (2026, 10, 31), false),
            a("single_bidder_deal", "high", (2026, 11, 1), true),
            a("related_bidders", "high", (2026, 11, 2), false),
        ]);
        assert_eq!((c.total, c.open), (3, 2));
        assert_eq!(c.by_rule["single_bidder_deal"], (2, 1));
        assert_eq!(c.by_severity["high"], 2);
        assert_eq!(c.by_month["2026-10"], 1);
        assert_eq!(c.by_month["2026-11"], 2);
    }

    #[test]
    fn deal_figures_are_exact() {
        let s = summarize_deals(&[
            DealFigure {
                kind: "equity_transfer".into(),
                price: m("1100000.00"),
                listing_price: m("1000000.00"),
                appraised: m("1000000.00"),
                negotiated: false,
            },
            DealFigure {
                kind: "equity_transfer".into(),
                price: m("900000.00"),
                listing_price: m("900000.00"),
                appraised: m("1000000.00"),
                negotiated: true,
            },
            DealFigure {
                kind: "asset_transfer".into(),
                price: m("0.03"),
                listing_price: m("0.03"),
                appraised: m("0.03"),
                negotiated: true,
            },
        ]);
        assert_eq!(s.deals, 3);
        assert_eq!(s.by_kind["equity_transfer"], (2, d("2000000.00")));
        assert_eq!(s.total_value, d("2000000.03"));
        assert_eq!(s.single_bidder_share, Some(d("0.6667")));
        // (10 + 0 + 0) / 3 and (10 − 10 + 0) / 3
        assert_eq!(s.avg_premium_over_listing_percent, Some(d("3.33")));
        assert_eq!(s.avg_premium_over_appraisal_percent, Some(d("0.00")));
    }

    #[test]
    fn no_deals_means_no_shares() {
        let s = summarize_deals(&[]);
        assert_eq!(s.deals, 0);
        assert_eq!(s.single_bidder_share, None);
        assert_eq!(s.avg_premium_over_listing_percent, None);
    }
}
