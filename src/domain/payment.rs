//! Paying the price through the exchange: a lump sum within a few working days of the
//! contract, or, for large deals, instalments (at least 30 % first, within the same days; the
//! rest within a year, backed by a guarantee). Payments are amounts with references; nothing
//! may be paid beyond the price.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::listing::RuleViolation;
use super::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentPlan {
    LumpSum,
    Instalments,
}

impl PaymentPlan {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LumpSum => "lump_sum",
            Self::Instalments => "instalments",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::LumpSum, Self::Instalments]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// Policy numbers (configuration).
#[derive(Debug, Clone, Copy)]
pub struct PaymentPolicy {
    /// Instalments are allowed at or above this price.
    pub instalment_min_price: Money,
    /// The first instalment is at least this percentage of the price.
    pub first_instalment_percent: i64,
}

/// Whether the contract's payment plan is allowed for this price.
pub fn check_plan(
    policy: &PaymentPolicy,
    plan: PaymentPlan,
    price: Money,
    guarantee_reference: Option<&str>,
) -> Result<(), RuleViolation> {
    if plan == PaymentPlan::LumpSum {
        return Ok(());
    }
    if price < policy.instalment_min_price {
        return Err(RuleViolation::new(
            "instalments_not_allowed",
            format!(
                "instalments are allowed only for deals of at least {} yuan",
                policy.instalment_min_price
            ),
        ));
    }
    if guarantee_reference.is_none_or(|g| g.trim().is_empty()) {
        return Err(RuleViolation::new(
            "guarantee_required",
            "paying in instalments needs the reference of the guarantee for the rest",
        ));
    }
    Ok(())
}

/// The smallest first instalment: the percentage of the price, rounded up to the fen.
pub fn first_instalment(policy: &PaymentPolicy, price: Money) -> Money {
    let fen = price.fen() * policy.first_instalment_percent;
    Money::from_fen(fen / 100 + i64::from(fen % 100 != 0))
}

/// When the price is due: the first part (instalments only) and the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub plan: PaymentPlan,
    pub price: Money,
    /// Instalments: by then at least `first_minimum` must be paid.
    pub first_due: Option<DateTime<Utc>>,
    pub first_minimum: Money,
    /// By then the whole price must be paid.
    pub final_due: DateTime<Utc>,
}

impl Schedule {
    /// What is still owed after `paid`.
    pub fn outstanding(&self, paid: Money) -> Money {
        Money::from_fen((self.price.fen() - paid.fen()).max(0))
    }

    /// The next instant something is due, given what was paid; `None` once fully paid.
    pub fn next_due(&self, paid: Money) -> Option<DateTime<Utc>> {
        if paid >= self.price {
            return None;
        }
        match self.first_due {
            Some(first) if paid < self.first_minimum => Some(first),
            _ => Some(self.final_due),
        }
    }

    /// The deadline missed at `now`, if any: the first instalment short, or the price unpaid.
    pub fn missed(&self, paid: Money, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_due(paid).filter(|due| now >= *due)
    }

    /// Checks one payment of `amount` after `paid`; returns the new total.
    pub fn pay(&self, paid: Money, amount: Money) -> Result<Money, RuleViolation> {
        if amount.is_zero() {
            return Err(RuleViolation::new(
                "invalid_amount",
                "a payment must be above zero",
            ));
        }
        let total = Money::from_fen(paid.fen() + amount.fen());
        if total > self.price {
            return Err(RuleViolation::new(
                "overpayment",
                format!(
                    "this payment would exceed the price: {} is still owed",
                    self.outstanding(paid)
                ),
            ));
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn policy() -> PaymentPolicy {
        PaymentPolicy {
            instalment_min_price: m("10000000"),
            first_instalment_percent: 30,
        }
    }

    fn t(d: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::days(d)
    }

    fn instalments(price: &str) -> Schedule {
        let price = m(price);
        Schedule {
            plan: PaymentPlan::Instalments,
            price,
            first_due: Some(t(7)),
            first_minimum: first_instalment(&policy(), price),
            final_due: t(365),
        }
    }

    #[test]
    fn instalments_need_a_large_deal_and_a_guarantee() {
        let p = policy();
        let g = Some("BH-2026-001");
        assert!(check_plan(&p, PaymentPlan::LumpSum, m("1"), None).is_ok());
        assert!(check_plan(&p, PaymentPlan::Instalments, m("10000000.00"), g).is_ok());
        assert_eq!(
            check_plan(&p, PaymentPlan::Instalments, m("9999999.99"), g)
                .unwrap_err()
                .code,
            "instalments_not_allowed"
        );
        for none in [None, Some("  ")] {
            assert_eq!(
                check_plan(&p, PaymentPlan::Instalments, m("20000000"), none)
                    .unwrap_err()
                    .code,
                "guarantee_required"
            );
        }
    }

    #[test]
    fn the_first_instalment_is_thirty_percent_rounded_up_to_the_fen() {
        assert_eq!(first_instalment(&policy(), m("10000000")), m("3000000"));
        assert_eq!(
            first_instalment(&policy(), m("10000000.01")),
            m("3000000.01")
        );
        assert_eq!(
            first_instalment(&policy(), m("10000000.03")),
            m("3000000.01")
        );
        assert_eq!(
            first_instalment(&policy(), m("10000000.04")),
            m("3000000.02")
        );
    }

    #[test]
    fn what_is_due_follows_what_was_paid() {
        let s = instalments("10000000");
        assert_eq!(s.next_due(m("0")), Some(t(7)));
        assert_eq!(s.next_due(m("2999999.99")), Some(t(7)));
        assert_eq!(s.next_due(m("3000000")), Some(t(365)));
        assert_eq!(s.next_due(m("10000000")), None);
        assert_eq!(s.outstanding(m("3000000")), m("7000000"));
        // The day before, the instant of, and after the first deadline.
        assert_eq!(s.missed(m("100"), t(7) - Duration::seconds(1)), None);
        assert_eq!(s.missed(m("100"), t(7)), Some(t(7)));
        assert_eq!(s.missed(m("3000000"), t(8)), None);
        assert_eq!(s.missed(m("3000000"), t(365)), Some(t(365)));
        let lump = Schedule {
            plan: PaymentPlan::LumpSum,
            price: m("500"),
            first_due: None,
            first_minimum: m("0"),
            final_due: t(7),
        };
        assert_eq!(lump.next_due(m("100")), Some(t(7)));
        assert_eq!(lump.missed(m("499.99"), t(7)), Some(t(7)));
        assert_eq!(lump.missed(m("500"), t(9)), None);
    }

    #[test]
    fn nothing_is_paid_beyond_the_price() {
        let s = instalments("10000000");
        assert_eq!(s.pay(m("0"), m("3000000")).unwrap(), m("3000000"));
        assert_eq!(s.pay(m("3000000"), m("7000000")).unwrap(), m("10000000"));
        let e = s.pay(m("3000000"), m("7000000.01")).unwrap_err();
        assert_eq!(e.code, "overpayment");
        assert!(e.message.contains("7000000.00"), "{}", e.message);
        assert_eq!(s.pay(m("0"), m("0")).unwrap_err().code, "invalid_amount");
    }

    #[test]
    fn plans_round_trip_through_their_names() {
        for p in [PaymentPlan::LumpSum, PaymentPlan::Instalments] {
            assert_eq!(PaymentPlan::parse(p.as_str()), Some(p));
        }
    }
}
