//! Qualification after disclosure (资格确认) and the instant a listing is decided. When
//! disclosure ends no one may register any more, but the exchange has
//! `qualification_working_days` more to give its opinion on each registration, each qualified
//! bidder has its own deposit deadline, and the enterprise may object to a qualified bidder
//! (silence is agreement), which sends the registration back to the operator.
//!
//! A registration is *settled* once nothing more can change whether it counts: rejected, or
//! qualified with its deposit paid, or past its own deadline. The listing is decided once every
//! registration is settled, which happens at the latest at the last of their deadlines: the
//! decision is due at `max(disclosure end, every unsettled registration's deadline)`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::registration::{DepositStatus, RegistrationStatus};

/// What the enterprise said about a qualified bidder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SellerOpinion {
    Agreed,
    Objected,
}

impl SellerOpinion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agreed => "agreed",
            Self::Objected => "objected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Agreed, Self::Objected]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// The facts of one registration that decide whether it is settled.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    pub status: RegistrationStatus,
    pub deposit: DepositStatus,
    pub deposit_due: Option<DateTime<Utc>>,
    /// A pending registration the enterprise objected to: the operator decides by then.
    pub review_due: Option<DateTime<Utc>>,
}

/// The instant by which a registration is settled whatever happens, or `None` when its status
/// already settles it. `qualification_end` is when the exchange's first opinion is due.
pub fn settled_by(r: &Standing, qualification_end: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match (r.status, r.deposit) {
        (RegistrationStatus::Rejected, _) => None,
        (RegistrationStatus::Qualified, DepositStatus::Unpaid) => r.deposit_due,
        (RegistrationStatus::Qualified, _) => None,
        (RegistrationStatus::Pending, _) => Some(
            r.review_due
                .map_or(qualification_end, |due| due.max(qualification_end)),
        ),
    }
}

/// When the listing is decided at the latest, given its registrations now: the disclosure's
/// end, or later while a registration can still change.
pub fn decision_due(
    disclosure_end: DateTime<Utc>,
    qualification_end: DateTime<Utc>,
    registrations: &[Standing],
) -> DateTime<Utc> {
    registrations
        .iter()
        .filter_map(|r| settled_by(r, qualification_end))
        .fold(disclosure_end, DateTime::max)
}

/// Whether the exchange may still give (or, after an objection, give again) its opinion on a
/// pending registration at `now`.
pub fn review_open(r: &Standing, qualification_end: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    r.status == RegistrationStatus::Pending
        && settled_by(r, qualification_end).is_some_and(|by| now < by)
}

/// Why the enterprise's opinion is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpinionRefusal {
    #[error("the enterprise gives its opinion on qualified bidders only")]
    NotQualified,
    #[error("the enterprise has already given its opinion on this bidder")]
    AlreadyGiven,
    #[error("the time for the enterprise's opinion has passed (silence counts as agreement)")]
    TooLate,
}

impl OpinionRefusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::NotQualified => "invalid_state",
            Self::AlreadyGiven => "opinion_given",
            Self::TooLate => "opinion_too_late",
        }
    }
}

/// Whether the enterprise may give its opinion now (qualified, not yet given, before its due).
pub fn opinion_allowed(
    status: RegistrationStatus,
    given: Option<SellerOpinion>,
    due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), OpinionRefusal> {
    // An objection sends the registration back to pending: asked again, the answer is that
    // the opinion was given, not that the bidder is unqualified.
    if given.is_some() {
        return Err(OpinionRefusal::AlreadyGiven);
    }
    if status != RegistrationStatus::Qualified {
        return Err(OpinionRefusal::NotQualified);
    }
    if due.is_some_and(|d| now >= d) {
        return Err(OpinionRefusal::TooLate);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    use DepositStatus as D;
    use RegistrationStatus as R;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::hours(h)
    }

    fn reg(status: R, deposit: D, deposit_due: Option<i64>, review_due: Option<i64>) -> Standing {
        Standing {
            status,
            deposit,
            deposit_due: deposit_due.map(t),
            review_due: review_due.map(t),
        }
    }

    #[test]
    fn rejected_and_paid_registrations_are_settled_by_their_status() {
        assert_eq!(
            settled_by(&reg(R::Rejected, D::Unpaid, None, None), t(100)),
            None
        );
        assert_eq!(
            settled_by(&reg(R::Qualified, D::Paid, Some(5), None), t(100)),
            None
        );
        assert_eq!(
            settled_by(&reg(R::Qualified, D::Refunded, None, None), t(100)),
            None
        );
    }

    #[test]
    fn others_settle_at_their_own_deadline() {
        assert_eq!(
            settled_by(&reg(R::Qualified, D::Unpaid, Some(30), None), t(100)),
            Some(t(30))
        );
        assert_eq!(
            settled_by(&reg(R::Pending, D::Unpaid, None, None), t(100)),
            Some(t(100))
        );
        // After an objection the operator decides by its own due, never before the window.
        assert_eq!(
            settled_by(&reg(R::Pending, D::Unpaid, None, Some(150)), t(100)),
            Some(t(150))
        );
        assert_eq!(
            settled_by(&reg(R::Pending, D::Paid, Some(5), Some(50)), t(100)),
            Some(t(100))
        );
    }

    #[test]
    fn the_decision_is_due_at_the_end_when_everyone_is_settled_and_later_otherwise() {
        let end = t(0);
        let q = t(120);
        assert_eq!(decision_due(end, q, &[]), end);
        let settled = [
            reg(R::Qualified, D::Paid, Some(-5), None),
            reg(R::Rejected, D::Unpaid, None, None),
        ];
        assert_eq!(decision_due(end, q, &settled), end);
        // A late registrant qualified on the last day: its deposit deadline decides.
        let late = [settled[0], reg(R::Qualified, D::Unpaid, Some(190), None)];
        assert_eq!(decision_due(end, q, &late), t(190));
        // Nobody reviewed yet: the qualification window's end.
        let pending = [settled[0], reg(R::Pending, D::Unpaid, None, None)];
        assert_eq!(decision_due(end, q, &pending), q);
        // An overdue deposit is past: it no longer holds anything up.
        let overdue = [reg(R::Qualified, D::Unpaid, Some(-1), None)];
        assert_eq!(decision_due(end, q, &overdue), end);
    }

    #[test]
    fn the_exchange_reviews_until_its_window_closes() {
        let q = t(120);
        let pending = reg(R::Pending, D::Unpaid, None, None);
        assert!(review_open(&pending, q, t(119)));
        assert!(!review_open(&pending, q, t(120)));
        let objected = reg(R::Pending, D::Paid, None, Some(200));
        assert!(review_open(&objected, q, t(199)));
        assert!(!review_open(&objected, q, t(200)));
        assert!(!review_open(
            &reg(R::Qualified, D::Unpaid, None, None),
            q,
            t(0)
        ));
    }

    #[test]
    fn the_enterprise_speaks_once_about_a_qualified_bidder_before_its_due() {
        let due = Some(t(10));
        assert_eq!(opinion_allowed(R::Qualified, None, due, t(9)), Ok(()));
        assert_eq!(
            opinion_allowed(R::Qualified, None, due, t(10)),
            Err(OpinionRefusal::TooLate)
        );
        assert_eq!(
            opinion_allowed(R::Qualified, Some(SellerOpinion::Agreed), due, t(0)),
            Err(OpinionRefusal::AlreadyGiven)
        );
        assert_eq!(
            opinion_allowed(R::Pending, None, due, t(0)),
            Err(OpinionRefusal::NotQualified)
        );
        // After an objection the registration is pending again: the opinion was given.
        assert_eq!(
            opinion_allowed(R::Pending, Some(SellerOpinion::Objected), due, t(0)),
            Err(OpinionRefusal::AlreadyGiven)
        );
        assert_eq!(OpinionRefusal::TooLate.code(), "opinion_too_late");
        for o in [SellerOpinion::Agreed, SellerOpinion::Objected] {
            assert_eq!(SellerOpinion::parse(o.as_str()), Some(o));
        }
    }
}
