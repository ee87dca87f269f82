//! Bidding methods (竞价方式): the dynamic English auction and the sealed one-time bid
//! (一次报价), and the pre-emptive right (优先购买权) of existing shareholders in an equity
//! transfer.
//!
//! - A sealed bid is one bid per eligible bidder inside the window, at least the start price.
//!   Its commitment (SHA-256 over canonical bytes with a random nonce) is published at once;
//!   the amount only at the opening, where the highest wins, a right-holder wins a tie, and
//!   otherwise the earlier bid wins.
//! - In an English auction a right-holder may bid the current price itself ("同等条件下优先")
//!   and so take the lead, unless it leads already or the leading bid is itself a
//!   right-holder's (holders do not take the lead from one another without a raise).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::auction::{BidRefusal, Course, Offer, Phase, Standing, Times};
use super::listing::ListingKind;
use super::money::Money;

/// How a listing's auction is run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BiddingMethod {
    /// Free period, then a countdown restarted by each bid (网络竞价).
    #[default]
    English,
    /// One sealed bid per bidder within a window, all opened at its close (一次报价).
    Sealed,
}

impl BiddingMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::English => "english",
            Self::Sealed => "sealed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::English, Self::Sealed]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Whether existing shareholders' pre-emptive right is exercised inside the bidding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preemption {
    #[default]
    None,
    /// Confirmed right-holders bid like anyone and win on equal terms.
    InAuction,
}

impl Preemption {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::InAuction => "in_auction",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::InAuction]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// The pre-emptive right is a shareholder's right in an equity transfer (Company Law).
pub fn check_preemption(kind: ListingKind, preemption: Preemption) -> Result<(), &'static str> {
    if preemption == Preemption::InAuction && kind != ListingKind::EquityTransfer {
        return Err("the pre-emptive right applies to equity transfers only");
    }
    Ok(())
}

/// A right-holder may be confirmed only on a listing that honours the right.
pub fn may_hold_right(preemption: Preemption) -> bool {
    preemption == Preemption::InAuction
}

/// Whether an English bid is a right-holder's match of the current price that takes the lead.
pub fn is_match(standing: &Standing, offer: &Offer) -> bool {
    offer.holds_right
        && standing.current_price == Some(offer.amount)
        && standing.leader.is_some_and(|l| l != offer.bidder)
        && !standing.leader_holds_right
}

/// The phase a reader sees of a sealed auction: the window is `sealed`.
pub fn sealed_phase(phase: Phase) -> Phase {
    match phase {
        Phase::Free | Phase::Countdown => Phase::Sealed,
        other => other,
    }
}

/// Judges a sealed bid at `now`: a closed or paused auction first, then the window, then
/// eligibility, one bid per bidder, and the amount (at least the start price).
pub fn judge_sealed(
    times: &Times,
    course: Course,
    start_price: Money,
    offer: Offer,
    already_bid: bool,
    now: DateTime<Utc>,
) -> Result<(), BidRefusal> {
    match course {
        Course::Over => return Err(BidRefusal::Closed),
        Course::Paused { .. } => return Err(BidRefusal::Paused),
        Course::Open => {}
    }
    match times.phase(now) {
        Phase::Scheduled | Phase::Paused => return Err(BidRefusal::NotOpen),
        Phase::Closed => return Err(BidRefusal::Closed),
        Phase::Free | Phase::Countdown | Phase::Sealed => {}
    }
    if !offer.eligible {
        return Err(BidRefusal::NotEligible);
    }
    if already_bid {
        return Err(BidRefusal::AlreadyBid);
    }
    if offer.amount < start_price {
        return Err(BidRefusal::TooLow);
    }
    Ok(())
}

/// The canonical bytes a sealed bid's commitment is computed over.
pub fn canonical_bytes(listing_id: i64, bidder_code: &str, amount: Money, nonce: &str) -> String {
    format!("asset-exchange/sealed-bid/v1\n{listing_id}\n{bidder_code}\n{amount}\n{nonce}\n")
}

/// The commitment to a sealed bid: hex SHA-256 of its canonical bytes.
pub fn commitment(listing_id: i64, bidder_code: &str, amount: Money, nonce: &str) -> String {
    hex::encode(Sha256::digest(
        canonical_bytes(listing_id, bidder_code, amount, nonce).as_bytes(),
    ))
}

/// A sealed bid at its opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    pub registration: i64,
    pub amount: Money,
    pub placed_at: DateTime<Utc>,
    pub holds_right: bool,
}

/// The winner of an opening (an index into `bids`): the highest amount; on a tie a
/// right-holder; then the earlier bid.
pub fn sealed_winner(bids: &[Sealed]) -> Option<usize> {
    (0..bids.len()).min_by(|&a, &b| {
        let (x, y) = (&bids[a], &bids[b]);
        y.amount
            .cmp(&x.amount)
            .then(y.holds_right.cmp(&x.holds_right))
            .then(x.placed_at.cmp(&y.placed_at))
            .then(x.registration.cmp(&y.registration))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap()
    }

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn sealed(reg: i64, amount: &str, secs: i64, holds_right: bool) -> Sealed {
        Sealed {
            registration: reg,
            amount: m(amount),
            placed_at: t0() + Duration::seconds(secs),
            holds_right,
        }
    }

    #[test]
    fn the_highest_sealed_bid_wins_then_a_right_holder_then_the_earlier() {
        let bids = [
            sealed(1, "100", 1, false),
            sealed(2, "120", 5, false),
            sealed(3, "120", 3, false),
            sealed(4, "90", 0, true),
        ];
        assert_eq!(sealed_winner(&bids), Some(2));
        let with_holder = [
            sealed(1, "120", 1, false),
            sealed(2, "120", 9, true),
            sealed(3, "110", 0, true),
        ];
        assert_eq!(sealed_winner(&with_holder), Some(1));
        assert_eq!(sealed_winner(&[]), None);
    }

    #[test]
    fn commitments_bind_the_amount_the_bidder_and_the_nonce() {
        let c = commitment(7, "B0001", m("1000000"), "n1");
        assert_eq!(c.len(), 64);
        assert_eq!(c, commitment(7, "B0001", m("1000000.00"), "n1"));
        assert_ne!(c, commitment(7, "B0001", m("1000000.01"), "n1"));
        assert_ne!(c, commitment(7, "B0002", m("1000000"), "n1"));
        assert_ne!(c, commitment(7, "B0001", m("1000000"), "n2"));
        assert_ne!(c, commitment(8, "B0001", m("1000000"), "n1"));
        assert_eq!(
            canonical_bytes(7, "B0001", m("5"), "ab"),
            "asset-exchange/sealed-bid/v1\n7\nB0001\n5.00\nab\n"
        );
    }

    fn offer(amount: &str, holds_right: bool) -> Offer {
        Offer {
            bidder: 1,
            eligible: true,
            amount: m(amount),
            holds_right,
        }
    }

    #[test]
    fn a_sealed_bid_is_judged_in_the_window_once_per_bidder_from_the_start_price() {
        let t = Times::schedule(t0(), 60, 0);
        let now = t0() + Duration::seconds(10);
        let ok = offer("1000", false);
        let start = m("1000");
        assert_eq!(
            judge_sealed(&t, Course::Open, start, ok, false, now),
            Ok(())
        );
        assert_eq!(
            judge_sealed(&t, Course::Open, start, offer("999.99", false), false, now),
            Err(BidRefusal::TooLow)
        );
        assert_eq!(
            judge_sealed(&t, Course::Open, start, ok, true, now),
            Err(BidRefusal::AlreadyBid)
        );
        assert_eq!(
            judge_sealed(&t, Course::Open, start, ok, false, t.ends_at),
            Err(BidRefusal::Closed)
        );
        assert_eq!(
            judge_sealed(
                &t,
                Course::Open,
                start,
                ok,
                false,
                t0() - Duration::seconds(1)
            ),
            Err(BidRefusal::NotOpen)
        );
        let stranger = Offer {
            eligible: false,
            ..ok
        };
        assert_eq!(
            judge_sealed(&t, Course::Open, start, stranger, false, now),
            Err(BidRefusal::NotEligible)
        );
        let paused = Course::Paused { since: t0() };
        assert_eq!(
            judge_sealed(&t, paused, start, ok, false, now),
            Err(BidRefusal::Paused)
        );
        assert_eq!(BidRefusal::AlreadyBid.code(), "already_bid");
    }

    #[test]
    fn a_right_holder_matches_a_non_holders_lead_only() {
        let led = Standing {
            current_price: Some(m("100")),
            leader: Some(9),
            leader_holds_right: false,
        };
        assert!(is_match(&led, &offer("100", true)));
        assert!(!is_match(&led, &offer("100", false)));
        assert!(!is_match(&led, &offer("110", true)));
        let own = Standing {
            leader: Some(1),
            ..led
        };
        assert!(!is_match(&own, &offer("100", true)));
        let holder_leads = Standing {
            leader_holds_right: true,
            ..led
        };
        assert!(!is_match(&holder_leads, &offer("100", true)));
        let none = Standing {
            current_price: None,
            leader: None,
            leader_holds_right: false,
        };
        assert!(!is_match(&none, &offer("100", true)));
    }

    #[test]
    fn the_pre_emptive_right_belongs_to_equity_transfers() {
        assert!(check_preemption(ListingKind::EquityTransfer, Preemption::InAuction).is_ok());
        assert!(check_preemption(ListingKind::AssetTransfer, Preemption::InAuction).is_err());
        assert!(check_preemption(ListingKind::CapitalIncrease, Preemption::None).is_ok());
        assert_eq!(BiddingMethod::parse("sealed"), Some(BiddingMethod::Sealed));
        assert_eq!(Preemption::parse("in_auction"), Some(Preemption::InAuction));
        assert_eq!(sealed_phase(Phase::Free), Phase::Sealed);
        assert_eq!(sealed_phase(Phase::Closed), Phase::Closed);
    }
}
