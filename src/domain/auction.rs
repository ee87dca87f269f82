//! Online auction arithmetic (网络竞价), "price first, then time first": phases from stored
//! times, which bids are valid, how the countdown restarts, and who wins.
//!
//! A free bidding period runs from the start; then a countdown. Every accepted bid during the
//! countdown restarts it from that bid's instant. The end instant is exclusive. The first bid
//! is the start price plus k·increment (k ≥ 0); every later one the current price plus
//! k·increment (k ≥ 1). A leader may not raise their own bid unless the listing allows it.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::listing::ListingStatus;
use super::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scheduled,
    Free,
    Countdown,
    Closed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Scheduled => "scheduled",
            Phase::Free => "free",
            Phase::Countdown => "countdown",
            Phase::Closed => "closed",
        }
    }
}

/// The times of an auction as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub starts_at: DateTime<Utc>,
    pub free_ends_at: DateTime<Utc>,
    /// The current end: the free period's end plus a countdown, restarted by each bid in it.
    pub ends_at: DateTime<Utc>,
}

impl Times {
    /// The times of a newly scheduled auction.
    pub fn schedule(starts_at: DateTime<Utc>, free_seconds: u32, countdown_seconds: u32) -> Self {
        let free_ends_at = starts_at + Duration::seconds(i64::from(free_seconds));
        Self {
            starts_at,
            free_ends_at,
            ends_at: free_ends_at + Duration::seconds(i64::from(countdown_seconds)),
        }
    }

    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        if now < self.starts_at {
            Phase::Scheduled
        } else if now >= self.ends_at {
            Phase::Closed
        } else if now < self.free_ends_at {
            Phase::Free
        } else {
            Phase::Countdown
        }
    }
}

/// The listing's bidding terms.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    pub start_price: Money,
    pub increment: Money,
    pub countdown: Duration,
    pub allow_self_raise: bool,
}

/// The state a bid is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    pub current_price: Option<Money>,
    /// The registration holding the leading bid.
    pub leader: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BidRefusal {
    #[error("the auction has not started yet")]
    NotOpen,
    #[error("the auction has closed")]
    Closed,
    #[error(
        "the amount must be higher than the current price (or at least the start price for the first bid)"
    )]
    TooLow,
    #[error("the amount must be the price plus a whole multiple of the increment")]
    InvalidIncrement,
    #[error("you already hold the leading bid")]
    SelfRaise,
}

impl BidRefusal {
    /// The stable API code.
    pub fn code(self) -> &'static str {
        match self {
            BidRefusal::NotOpen => "auction_not_open",
            BidRefusal::Closed => "auction_closed",
            BidRefusal::TooLow => "bid_too_low",
            BidRefusal::InvalidIncrement => "invalid_increment",
            BidRefusal::SelfRaise => "self_raise_not_allowed",
        }
    }
}

/// Checks a bid at `now` by `bidder` (a registration id); on success returns the auction's
/// new end.
pub fn check_bid(
    times: &Times,
    terms: &Terms,
    standing: &Standing,
    bidder: i64,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, BidRefusal> {
    match times.phase(now) {
        Phase::Scheduled => return Err(BidRefusal::NotOpen),
        Phase::Closed => return Err(BidRefusal::Closed),
        Phase::Free | Phase::Countdown => {}
    }
    let (base, min_steps) = match standing.current_price {
        None => (terms.start_price, 0),
        Some(current) => (current, 1),
    };
    if amount < base || (min_steps == 1 && amount == base) {
        return Err(BidRefusal::TooLow);
    }
    let over = amount.fen() - base.fen();
    let step = terms.increment.fen();
    if step <= 0 || over % step != 0 {
        return Err(BidRefusal::InvalidIncrement);
    }
    if standing.leader == Some(bidder) && !terms.allow_self_raise {
        return Err(BidRefusal::SelfRaise);
    }
    Ok(next_end(times, terms, now))
}

/// A bid in the countdown restarts it from the bid's instant; one in the free period leaves
/// the end where it is.
pub fn next_end(times: &Times, terms: &Terms, at: DateTime<Utc>) -> DateTime<Utc> {
    if at >= times.free_ends_at {
        (at + terms.countdown).max(times.ends_at)
    } else {
        times.ends_at
    }
}

/// When the phase next changes by time alone: the start, the end of the free period, the
/// end; none once closed.
pub fn next_boundary(times: &Times, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match times.phase(now) {
        Phase::Scheduled => Some(times.starts_at),
        Phase::Free => Some(times.free_ends_at),
        Phase::Countdown => Some(times.ends_at),
        Phase::Closed => None,
    }
}

/// Whether an auction can no longer change: its time is over and its listing has moved on
/// (awarded, failed, terminated, ...). One still `bidding` waits for its close; a suspended
/// one may resume.
pub fn is_over(phase: Phase, listing: ListingStatus) -> bool {
    phase == Phase::Closed
        && !matches!(
            listing,
            ListingStatus::Bidding | ListingStatus::AuctionScheduled | ListingStatus::Suspended
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_next_boundary_is_the_end_of_the_current_phase() {
        let t = Times::schedule(t0(), 600, 300);
        let s = Duration::seconds;
        assert_eq!(next_boundary(&t, t0() - s(1)), Some(t0()));
        assert_eq!(next_boundary(&t, t0()), Some(t0() + s(600)));
        assert_eq!(next_boundary(&t, t0() + s(600)), Some(t0() + s(900)));
        assert_eq!(next_boundary(&t, t0() + s(900)), None);
    }

    #[test]
    fn an_auction_is_over_once_closed_and_its_listing_moved_on() {
        assert!(is_over(Phase::Closed, ListingStatus::Awarded));
        assert!(is_over(Phase::Closed, ListingStatus::Terminated));
        assert!(
            !is_over(Phase::Closed, ListingStatus::Bidding),
            "the close job is late"
        );
        assert!(
            !is_over(Phase::Closed, ListingStatus::Suspended),
            "it may resume"
        );
        assert!(!is_over(Phase::Countdown, ListingStatus::Bidding));
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap()
    }

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn setup() -> (Times, Terms) {
        (
            Times::schedule(t0(), 600, 300),
            Terms {
                start_price: m("1000000"),
                increment: m("10000"),
                countdown: Duration::seconds(300),
                allow_self_raise: false,
            },
        )
    }

    const NONE: Standing = Standing {
        current_price: None,
        leader: None,
    };

    #[test]
    fn phases_follow_the_clock_with_an_exclusive_end() {
        let (t, _) = setup();
        assert_eq!(t.phase(t0() - Duration::seconds(1)), Phase::Scheduled);
        assert_eq!(t.phase(t0()), Phase::Free);
        assert_eq!(t.phase(t0() + Duration::seconds(599)), Phase::Free);
        assert_eq!(t.phase(t0() + Duration::seconds(600)), Phase::Countdown);
        assert_eq!(t.phase(t0() + Duration::seconds(899)), Phase::Countdown);
        assert_eq!(t.phase(t0() + Duration::seconds(900)), Phase::Closed);
    }

    #[test]
    fn first_bid_may_be_the_start_price_or_above_it_in_whole_steps() {
        let (t, terms) = setup();
        let now = t0() + Duration::seconds(10);
        assert!(check_bid(&t, &terms, &NONE, 1, m("1000000"), now).is_ok());
        assert!(check_bid(&t, &terms, &NONE, 1, m("1030000"), now).is_ok());
        assert_eq!(
            check_bid(&t, &terms, &NONE, 1, m("999999.99"), now),
            Err(BidRefusal::TooLow)
        );
        assert_eq!(
            check_bid(&t, &terms, &NONE, 1, m("1005000"), now),
            Err(BidRefusal::InvalidIncrement)
        );
    }

    #[test]
    fn later_bids_must_raise_by_at_least_one_step() {
        let (t, terms) = setup();
        let now = t0() + Duration::seconds(10);
        let s = Standing {
            current_price: Some(m("1050000")),
            leader: Some(7),
        };
        assert_eq!(
            check_bid(&t, &terms, &s, 1, m("1050000"), now),
            Err(BidRefusal::TooLow)
        );
        assert_eq!(
            check_bid(&t, &terms, &s, 1, m("1040000"), now),
            Err(BidRefusal::TooLow)
        );
        assert_eq!(
            check_bid(&t, &terms, &s, 1, m("1055000"), now),
            Err(BidRefusal::InvalidIncrement)
        );
        assert!(check_bid(&t, &terms, &s, 1, m("1060000"), now).is_ok());
        assert!(check_bid(&t, &terms, &s, 1, m("1150000"), now).is_ok());
    }

    #[test]
    fn the_leader_may_not_raise_itself_unless_allowed() {
        let (t, mut terms) = setup();
        let now = t0() + Duration::seconds(10);
        let s = Standing {
            current_price: Some(m("1050000")),
            leader: Some(7),
        };
        assert_eq!(
            check_bid(&t, &terms, &s, 7, m("1060000"), now),
            Err(BidRefusal::SelfRaise)
        );
        terms.allow_self_raise = true;
        assert!(check_bid(&t, &terms, &s, 7, m("1060000"), now).is_ok());
    }

    #[test]
    fn bids_outside_the_auction_are_refused() {
        let (t, terms) = setup();
        assert_eq!(
            check_bid(
                &t,
                &terms,
                &NONE,
                1,
                m("1000000"),
                t0() - Duration::seconds(1)
            ),
            Err(BidRefusal::NotOpen)
        );
        assert_eq!(
            check_bid(&t, &terms, &NONE, 1, m("1000000"), t.ends_at),
            Err(BidRefusal::Closed)
        );
    }

    #[test]
    fn a_bid_in_the_countdown_restarts_it_and_one_in_the_free_period_does_not() {
        let (t, terms) = setup();
        let free_bid = t0() + Duration::seconds(100);
        assert_eq!(
            check_bid(&t, &terms, &NONE, 1, m("1000000"), free_bid),
            Ok(t.ends_at)
        );
        let late = t0() + Duration::seconds(850);
        assert_eq!(
            check_bid(&t, &terms, &NONE, 1, m("1000000"), late),
            Ok(late + Duration::seconds(300))
        );
        // At the very start of the countdown the end is unchanged (a full countdown remains).
        assert_eq!(next_end(&t, &terms, t.free_ends_at), t.ends_at);
    }

    #[test]
    fn refusal_codes_are_the_api_codes() {
        assert_eq!(BidRefusal::NotOpen.code(), "auction_not_open");
        assert_eq!(BidRefusal::Closed.code(), "auction_closed");
        assert_eq!(BidRefusal::TooLow.code(), "bid_too_low");
        assert_eq!(BidRefusal::InvalidIncrement.code(), "invalid_increment");
        assert_eq!(BidRefusal::SelfRaise.code(), "self_raise_not_allowed");
    }
}
