//! The supervisor's dashboard figures: alert counts by rule, severity and month, and deal
//! figures (count and value by kind, share of single-bidder deals, average premiums). Exact
//! decimal arithmetic throughout.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::money::Money;
use super::scope::{self, Node};

/// One alert, as the counts need it.
#[derive(Debug, Clone)]
pub struct AlertFigure {
    pub rule: String,
    pub severity: String,
    /// Beijing date of creation.
    pub created_on: NaiveDate,
    pub acknowledged: bool,
    /// The supervising body of the enterprise concerned.
    pub body: i64,
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
    /// The supervising body of the seller.
    pub body: i64,
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

/// The figures of one part of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFigures {
    pub body_id: i64,
    /// True for the enterprises attached to the requested body itself; false for a child
    /// body with everything below it.
    pub own: bool,
    pub deals: DealSummary,
    pub alerts: AlertCounts,
}

/// The figures of `body` split into its own enterprises' and each direct child's, rolled up
/// over the child's descendants. Every figure attached somewhere in the body's subtree
/// falls in exactly one part, so the parts' counts and values add up to the whole.
pub fn by_body(
    body: i64,
    tree: &[Node],
    deals: &[DealFigure],
    alerts: &[AlertFigure],
) -> Vec<BodyFigures> {
    let part = |body_id: i64, own: bool| {
        let members = if own {
            [body_id].into()
        } else {
            scope::subtree(body_id, tree)
        };
        let d: Vec<DealFigure> = deals
            .iter()
            .filter(|d| members.contains(&d.body))
            .cloned()
            .collect();
        let a: Vec<AlertFigure> = alerts
            .iter()
            .filter(|a| members.contains(&a.body))
            .cloned()
            .collect();
        BodyFigures {
            body_id,
            own,
            deals: summarize_deals(&d),
            alerts: count_alerts(&a),
        }
    };
    std::iter::once(part(body, true))
        .chain(
            scope::children(Some(body), tree)
                .into_iter()
                .map(|c| part(c, false)),
        )
        .collect()
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
            body: 1,
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
                body: 1,
            },
            DealFigure {
                kind: "equity_transfer".into(),
                price: m("900000.00"),
                listing_price: m("900000.00"),
                appraised: m("1000000.00"),
                negotiated: true,
                body: 1,
            },
            DealFigure {
                kind: "asset_transfer".into(),
                price: m("0.03"),
                listing_price: m("0.03"),
                appraised: m("0.03"),
                negotiated: true,
                body: 1,
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

#[cfg(test)]
mod by_body_tests {
    use super::*;

    #[test]
    fn the_parts_add_up_to_the_whole() {
        let n = |id, parent_id| Node { id, parent_id };
        // 1 province; 2 Hangzhou (4 Xihu); 3 Ningbo
        let tree = [n(1, None), n(2, Some(1)), n(3, Some(1)), n(4, Some(2))];
        let deal = |price: &str, body, negotiated| DealFigure {
            kind: "asset_transfer".into(),
            price: Money::parse(price).unwrap(),
            listing_price: Money::parse("100.00").unwrap(),
            appraised: Money::parse("100.00").unwrap(),
            negotiated,
            body,
        };
        let alert = |body, acknowledged| AlertFigure {
            rule: "single_bidder_deal".into(),
            severity: "medium".into(),
            created_on: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            acknowledged,
            body,
        };
        let deals = [
            deal("110.00", 1, false),
            deal("120.00", 2, false),
            deal("100.00", 4, true),
            deal("130.00", 3, true),
        ];
        let alerts = [alert(4, false), alert(3, false), alert(3, true)];
        let parts = by_body(1, &tree, &deals, &alerts);
        let ids: Vec<(i64, bool)> = parts.iter().map(|p| (p.body_id, p.own)).collect();
        assert_eq!(ids, vec![(1, true), (2, false), (3, false)]);
        let whole = summarize_deals(&deals);
        let sum_deals: u64 = parts.iter().map(|p| p.deals.deals).sum();
        let sum_value: Decimal = parts.iter().map(|p| p.deals.total_value).sum();
        let sum_single: u64 = parts.iter().map(|p| p.deals.single_bidder_deals).sum();
        let sum_open: u64 = parts.iter().map(|p| p.alerts.open).sum();
        assert_eq!(sum_deals, whole.deals);
        assert_eq!(sum_value, whole.total_value);
        assert_eq!(sum_single, whole.single_bidder_deals);
        assert_eq!(sum_open, count_alerts(&alerts).open);
        // Hangzhou rolls up Xihu: two deals, one of them single-bidder.
        assert_eq!(parts[1].deals.deals, 2);
        assert_eq!(
            parts[1].deals.single_bidder_share,
            Some("0.5".parse().unwrap())
        );
        assert_eq!(parts[1].alerts.open, 1);
    }
}
