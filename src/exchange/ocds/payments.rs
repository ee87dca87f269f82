//! The payment side of a public contract: the plan as `financing` milestones (one for a lump
//! sum; the first instalment and the rest for instalments) and each payment as a transaction
//! of `contracts.implementation`. A release shows what had happened by its own date; the bank
//! references of payments and the guarantee's reference are never published.

use chrono::{DateTime, Utc};

use super::amounts::Amount;
use super::schema::{Implementation, Milestone, OrgRef, Transaction};
use super::ts;
use crate::domain::money::Money;
use crate::domain::payment::{PaymentPlan, Schedule};
use crate::exchange::deals::payment::schedule;
use crate::store::deals::{DealRow, PaymentRow};
use crate::store::models::from_db;

/// The milestones and transactions of `deal` as of `at`.
pub(super) fn payment_parts(
    round: i32,
    deal: &DealRow,
    payments: &[&PaymentRow],
    at: DateTime<Utc>,
    payer: &OrgRef,
    payee: &OrgRef,
) -> (Vec<Milestone>, Option<Implementation>) {
    let made: Vec<&PaymentRow> = payments
        .iter()
        .copied()
        .filter(|p| from_db(p.paid_at) <= at)
        .collect();
    let transactions: Vec<Transaction> = made
        .iter()
        .enumerate()
        .map(|(i, p)| Transaction {
            id: format!("r{round}-payment-{}", i + 1),
            date: ts(from_db(p.paid_at)),
            value: Amount::fen(p.amount),
            payer: payer.clone(),
            payee: payee.clone(),
        })
        .collect();
    let milestones = schedule(deal)
        .map(|s| milestones(round, &s, &made, at))
        .unwrap_or_default();
    let implementation = (!transactions.is_empty()).then_some(Implementation { transactions });
    (milestones, implementation)
}

/// One milestone per amount the plan requires by a date.
fn milestones(round: i32, s: &Schedule, made: &[&PaymentRow], at: DateTime<Utc>) -> Vec<Milestone> {
    let mut out = Vec::new();
    if let (PaymentPlan::Instalments, Some(first_due)) = (s.plan, s.first_due) {
        out.push(milestone(
            Target {
                id: format!("r{round}-payment-first"),
                title: "首期价款",
                code: "firstInstalment",
                amount: s.first_minimum,
                due: first_due,
            },
            made,
            at,
        ));
    }
    let (title, code) = match s.plan {
        PaymentPlan::LumpSum => ("成交价款（一次性付清）", "lumpSum"),
        PaymentPlan::Instalments => ("剩余价款（分期付款，已提供担保）", "finalInstalment"),
    };
    out.push(milestone(
        Target {
            id: format!("r{round}-payment-final"),
            title,
            code,
            amount: s.price,
            due: s.final_due,
        },
        made,
        at,
    ));
    out
}

/// Paid in total by a date.
struct Target {
    id: String,
    title: &'static str,
    code: &'static str,
    amount: Money,
    due: DateTime<Utc>,
}

/// Met when the payments up to `at` first reach the target's amount (the date it was
/// reached); not met once its date passed short of it; scheduled before.
fn milestone(t: Target, made: &[&PaymentRow], at: DateTime<Utc>) -> Milestone {
    let mut total = 0i64;
    let reached = made.iter().find_map(|p| {
        total += p.amount;
        (total >= t.amount.fen()).then(|| from_db(p.paid_at))
    });
    let status = match reached {
        Some(_) => "met",
        None if at >= t.due => "notMet",
        None => "scheduled",
    };
    Milestone {
        id: t.id,
        title: t.title.to_string(),
        kind: "financing",
        code: t.code,
        description: format!("累计支付不少于{}元", t.amount),
        due_date: ts(t.due),
        date_met: reached.map(ts),
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::models::to_db;
    use chrono::{Duration, TimeZone};

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 24, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn paid(fen: i64, h: i64) -> PaymentRow {
        PaymentRow {
            id: h,
            deal_id: 1,
            listing_id: 1,
            amount: fen,
            reference: "ZJ-1".into(),
            paid_at: to_db(t(h)),
            recorded_by: None,
        }
    }

    fn target(due: i64) -> Target {
        Target {
            id: "r1-payment-first".into(),
            title: "首期价款",
            code: "firstInstalment",
            amount: Money::from_fen(300),
            due: t(due),
        }
    }

    #[test]
    fn a_milestone_is_met_when_the_running_total_first_reaches_it() {
        let (a, b, c) = (paid(100, 1), paid(200, 2), paid(500, 3));
        let m = milestone(target(9), &[&a, &b, &c], t(4));
        assert_eq!((m.status, m.date_met), ("met", Some(ts(t(2)))));
        // One fen short, and the day not over yet: still scheduled.
        let short = paid(199, 2);
        let m = milestone(target(9), &[&a, &short], t(8));
        assert_eq!((m.status, m.date_met), ("scheduled", None));
        // Due at t(9): at that instant it is missed.
        assert_eq!(milestone(target(9), &[&a, &short], t(9)).status, "notMet");
        assert_eq!(milestone(target(9), &[&a, &b], t(9)).status, "met");
    }
}
