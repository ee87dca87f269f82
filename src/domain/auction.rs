//! Online auction arithmetic (网络竞价), "price first, then time first": phases from stored
//! times, which bids are valid, how the countdown restarts, and who wins.
//!
//! A free bidding period runs from the start; then a countdown. Every accepted bid during the
//! countdown restarts it from that bid's instant. The end instant is exclusive. The first bid
//! is the start price plus k·increment (k ≥ 0); every later one the current price plus
//! k·increment (k ≥ 1). A leader may not raise their own bid unless the listing allows it.
//!
//! A suspension of the listing pauses the auction: nothing starts, closes or is accepted, and
//! on resumption every instant that had not yet come moves by the length of the pause, with
//! at least one full countdown left. A bid's instant is the exchange's time when it holds the
//! auction's lock, never earlier than the bid before it.

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
    /// A sealed auction's window: bids are taken, nothing about them is shown.
    Sealed,
    /// The listing is suspended: the clock of the auction stands still.
    Paused,
    Closed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Scheduled => "scheduled",
            Phase::Free => "free",
            Phase::Countdown => "countdown",
            Phase::Sealed => "sealed",
            Phase::Paused => "paused",
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

impl Times {
    /// What is left at `at` of the period the auction is in (until the start, the end of the
    /// free period, or the end); zero once it is over.
    pub fn remaining_at(&self, at: DateTime<Utc>) -> Duration {
        let until = match self.phase(at) {
            Phase::Scheduled => self.starts_at,
            Phase::Free | Phase::Sealed => self.free_ends_at,
            Phase::Countdown | Phase::Paused => self.ends_at,
            Phase::Closed => at,
        };
        (until - at).max(Duration::zero())
    }

    /// The times after a pause from `paused` to `resumed`: every instant still to come at the
    /// pause moves by its length, and at least one full `countdown` is left after resuming.
    pub fn resumed(
        &self,
        paused: DateTime<Utc>,
        resumed: DateTime<Utc>,
        countdown: Duration,
    ) -> Times {
        let pause = (resumed - paused).max(Duration::zero());
        let moved = |t: DateTime<Utc>| if t > paused { t + pause } else { t };
        let starts_at = moved(self.starts_at);
        let free_ends_at = moved(self.free_ends_at);
        let ends_at = moved(self.ends_at).max(resumed + countdown);
        Times {
            starts_at,
            free_ends_at,
            ends_at,
        }
    }
}

/// Where an auction stands apart from its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Course {
    /// Bidding follows the clock.
    Open,
    /// The listing was suspended at `since`.
    Paused { since: DateTime<Utc> },
    /// Closed, or the listing moved on (awarded, failed, terminated...).
    Over,
}

/// The course of a listing's auction from the listing's state.
pub fn course(
    status: ListingStatus,
    suspended_from: Option<ListingStatus>,
    suspended_at: Option<DateTime<Utc>>,
    closed: bool,
) -> Course {
    use ListingStatus as S;
    match (closed, status, suspended_from, suspended_at) {
        (true, ..) => Course::Over,
        (false, S::AuctionScheduled | S::Bidding, ..) => Course::Open,
        (false, S::Suspended, Some(S::AuctionScheduled | S::Bidding), Some(since)) => {
            Course::Paused { since }
        }
        _ => Course::Over,
    }
}

/// The phase a reader sees at `now`.
pub fn phase_at(times: &Times, course: Course, now: DateTime<Utc>) -> Phase {
    match course {
        Course::Open => times.phase(now),
        Course::Paused { .. } => Phase::Paused,
        Course::Over => Phase::Closed,
    }
}

/// What was left of the current period when the auction was paused (frozen while paused).
pub fn remaining_when_paused(times: &Times, course: Course) -> Option<Duration> {
    match course {
        Course::Paused { since } => Some(times.remaining_at(since)),
        _ => None,
    }
}

/// The instant a bid is serialised at: the exchange's time under the auction's lock, but
/// never at or before the previous bid's, so `placed_at` rises with `seq` even across
/// instances whose clocks differ slightly.
pub fn serialised_at(now: DateTime<Utc>, previous_bid: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match previous_bid {
        Some(prev) if now <= prev => prev + Duration::microseconds(1),
        _ => now,
    }
}

/// The runner-up of an auction: the best bid of anyone but the winner (the highest; on equal
/// amounts the earlier). Bids are `(registration, amount, seq)`.
pub fn runner_up(
    bids: impl IntoIterator<Item = (i64, Money, u32)>,
    winner: i64,
) -> Option<(i64, Money)> {
    bids.into_iter()
        .filter(|(reg, _, _)| *reg != winner)
        .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
        .map(|(reg, amount, _)| (reg, amount))
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
    /// Whether the leading bid is a right-holder's (see [`super::bidding::is_match`]).
    pub leader_holds_right: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BidRefusal {
    #[error("the auction has not started yet")]
    NotOpen,
    #[error("bidding is paused while the listing is suspended")]
    Paused,
    #[error("only qualified bidders with a paid deposit may bid")]
    NotEligible,
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
    #[error("a sealed auction takes one bid per bidder, and you have placed yours")]
    AlreadyBid,
}

impl BidRefusal {
    /// The stable API code.
    pub fn code(self) -> &'static str {
        match self {
            BidRefusal::NotOpen | BidRefusal::Paused => "auction_not_open",
            BidRefusal::NotEligible => "not_eligible",
            BidRefusal::Closed => "auction_closed",
            BidRefusal::TooLow => "bid_too_low",
            BidRefusal::InvalidIncrement => "invalid_increment",
            BidRefusal::SelfRaise => "self_raise_not_allowed",
            BidRefusal::AlreadyBid => "already_bid",
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
        Phase::Scheduled | Phase::Paused => return Err(BidRefusal::NotOpen),
        Phase::Closed => return Err(BidRefusal::Closed),
        Phase::Free | Phase::Countdown | Phase::Sealed => {}
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

/// A bid as the exchange judges it: who (a registration), whether that registration may bid
/// (qualified, deposit paid), and the amount.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    pub bidder: i64,
    pub eligible: bool,
    pub amount: Money,
    /// A confirmed right-holder on a listing that honours the pre-emptive right.
    pub holds_right: bool,
}

/// Judges a bid serialised at `now`, in the order a bidder is told: a closed or paused
/// auction first, then the clock, then eligibility, then the amount. On success returns the
/// auction's new end.
pub fn judge(
    times: &Times,
    course: Course,
    terms: &Terms,
    standing: &Standing,
    offer: Offer,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, BidRefusal> {
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
    if super::bidding::is_match(standing, &offer) {
        return Ok(next_end(times, terms, now));
    }
    check_bid(times, terms, standing, offer.bidder, offer.amount, now)
}

/// The lowest amount `offer`'s bidder may bid against `standing` (what a `bid_too_low`
/// answer tells): the start price for the first bid, else the current price plus one
/// increment, or the current price itself for a right-holder who may match it.
pub fn minimum_bid(terms: &Terms, standing: &Standing, offer: &Offer) -> Money {
    let Some(current) = standing.current_price else {
        return terms.start_price;
    };
    let matching = Offer {
        amount: current,
        ..*offer
    };
    if super::bidding::is_match(standing, &matching) {
        return current;
    }
    current.checked_add(terms.increment).unwrap_or(current)
}

/// Whether a bid may be refused before queueing for the auction's lock: only when judging it
/// on what was just read gives `bid_too_low` against a price that already exists. Prices only
/// rise and ends only move later, so judging it under the lock could not accept it; and the
/// answer is the one it would have had at the instant of that read (`now` is read after it).
pub fn refusable_early(
    times: &Times,
    course: Course,
    terms: &Terms,
    standing: &Standing,
    offer: Offer,
    now: DateTime<Utc>,
) -> bool {
    standing.current_price.is_some()
        && judge(times, course, terms, standing, offer, now) == Err(BidRefusal::TooLow)
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

/// When the phase a reader sees next changes by time alone: the start, the end of the free
/// period, the end; none while paused (a resumption is announced) or once over.
pub fn next_boundary(times: &Times, course: Course, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match phase_at(times, course, now) {
        Phase::Scheduled => Some(times.starts_at),
        Phase::Free | Phase::Sealed => Some(times.free_ends_at),
        Phase::Countdown => Some(times.ends_at),
        Phase::Paused | Phase::Closed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_next_boundary_is_the_end_of_the_current_phase() {
        let t = Times::schedule(t0(), 600, 300);
        let s = Duration::seconds;
        let open = Course::Open;
        assert_eq!(next_boundary(&t, open, t0() - s(1)), Some(t0()));
        assert_eq!(next_boundary(&t, open, t0()), Some(t0() + s(600)));
        assert_eq!(next_boundary(&t, open, t0() + s(600)), Some(t0() + s(900)));
        assert_eq!(next_boundary(&t, open, t0() + s(900)), None);
        let paused = Course::Paused { since: t0() };
        assert_eq!(next_boundary(&t, paused, t0() + s(1)), None);
        assert_eq!(next_boundary(&t, Course::Over, t0() + s(1)), None);
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
        leader_holds_right: false,
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
            leader_holds_right: false,
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
            leader_holds_right: false,
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
    fn a_pause_in_the_countdown_resumes_with_one_full_countdown() {
        let (t, terms) = setup();
        let paused = t0() + Duration::seconds(880); // 20 s of the countdown left
        assert_eq!(t.remaining_at(paused), Duration::seconds(20));
        let resumed = paused + Duration::hours(3);
        let r = t.resumed(paused, resumed, terms.countdown);
        assert_eq!(r.starts_at, t.starts_at);
        assert_eq!(r.free_ends_at, t.free_ends_at);
        assert_eq!(r.ends_at, resumed + Duration::seconds(300));
        assert_eq!(r.phase(resumed), Phase::Countdown);
    }

    #[test]
    fn a_pause_in_the_free_period_keeps_what_was_left_of_it() {
        let (t, terms) = setup();
        let paused = t0() + Duration::seconds(500); // 100 s of free bidding left
        assert_eq!(t.remaining_at(paused), Duration::seconds(100));
        let resumed = paused + Duration::days(2);
        let r = t.resumed(paused, resumed, terms.countdown);
        assert_eq!(r.starts_at, t.starts_at);
        assert_eq!(r.free_ends_at, resumed + Duration::seconds(100));
        assert_eq!(r.ends_at, resumed + Duration::seconds(400));
        assert_eq!(r.phase(resumed), Phase::Free);
    }

    #[test]
    fn a_pause_before_the_start_moves_the_whole_auction() {
        let (t, terms) = setup();
        let paused = t0() - Duration::seconds(60);
        assert_eq!(t.remaining_at(paused), Duration::seconds(60));
        let resumed = paused + Duration::hours(1);
        let r = t.resumed(paused, resumed, terms.countdown);
        assert_eq!(r.starts_at, t0() + Duration::hours(1));
        assert_eq!(r.free_ends_at, t.free_ends_at + Duration::hours(1));
        assert_eq!(r.ends_at, t.ends_at + Duration::hours(1));
    }

    #[test]
    fn a_resumption_past_the_old_end_still_leaves_a_full_countdown() {
        let (t, terms) = setup();
        let paused = t.ends_at - Duration::microseconds(1);
        let resumed = t.ends_at + Duration::days(30);
        let r = t.resumed(paused, resumed, terms.countdown);
        assert_eq!(r.ends_at, resumed + terms.countdown);
        assert_eq!(r.phase(resumed), Phase::Countdown);
        assert_eq!(r.phase(r.ends_at), Phase::Closed);
    }

    #[test]
    fn the_course_follows_the_listing_state() {
        use ListingStatus as S;
        let since = t0();
        assert_eq!(course(S::Bidding, None, None, false), Course::Open);
        assert_eq!(course(S::AuctionScheduled, None, None, false), Course::Open);
        assert_eq!(
            course(S::Suspended, Some(S::Bidding), Some(since), false),
            Course::Paused { since }
        );
        assert_eq!(
            course(S::Suspended, Some(S::Disclosure), Some(since), false),
            Course::Over
        );
        assert_eq!(course(S::Bidding, None, None, true), Course::Over);
        assert_eq!(course(S::Awarded, None, None, false), Course::Over);
        let (t, _) = setup();
        assert_eq!(
            phase_at(&t, Course::Paused { since }, t0() + Duration::days(9)),
            Phase::Paused
        );
        assert_eq!(
            remaining_when_paused(
                &t,
                Course::Paused {
                    since: t0() + Duration::seconds(10)
                }
            ),
            Some(Duration::seconds(590))
        );
        assert_eq!(phase_at(&t, Course::Over, t0()), Phase::Closed);
        assert_eq!(phase_at(&t, Course::Open, t0()), Phase::Free);
    }

    #[test]
    fn a_bid_is_never_serialised_before_the_previous_one() {
        let prev = t0();
        assert_eq!(
            serialised_at(t0() + Duration::seconds(1), Some(prev)),
            t0() + Duration::seconds(1)
        );
        assert_eq!(
            serialised_at(t0(), Some(prev)),
            t0() + Duration::microseconds(1)
        );
        assert_eq!(
            serialised_at(t0() - Duration::milliseconds(3), Some(prev)),
            t0() + Duration::microseconds(1)
        );
        assert_eq!(serialised_at(t0(), None), t0());
    }

    #[test]
    fn the_runner_up_is_the_best_other_bidder_and_the_earlier_on_a_tie() {
        let bids = [
            (1, m("100"), 1),
            (2, m("110"), 2),
            (3, m("120"), 3),
            (2, m("130"), 4),
            (1, m("140"), 5),
        ];
        assert_eq!(runner_up(bids, 1), Some((2, m("130"))));
        assert_eq!(runner_up(bids, 2), Some((1, m("140"))));
        let tie = [(5, m("100"), 2), (6, m("100"), 1), (7, m("200"), 3)];
        assert_eq!(runner_up(tie, 7), Some((6, m("100"))));
        assert_eq!(runner_up([(1, m("100"), 1)], 1), None);
    }

    #[test]
    fn judging_tells_a_paused_or_closed_auction_before_anything_else() {
        let (t, terms) = setup();
        let now = t0() + Duration::seconds(10);
        let late = Offer {
            bidder: 1,
            eligible: false,
            amount: m("1"),
            holds_right: false,
        };
        let paused = Course::Paused { since: t0() };
        assert_eq!(
            judge(&t, paused, &terms, &NONE, late, now),
            Err(BidRefusal::Paused)
        );
        assert_eq!(
            judge(&t, Course::Over, &terms, &NONE, late, now),
            Err(BidRefusal::Closed)
        );
        assert_eq!(
            judge(&t, Course::Open, &terms, &NONE, late, t.ends_at),
            Err(BidRefusal::Closed)
        );
        assert_eq!(
            judge(&t, Course::Open, &terms, &NONE, late, now),
            Err(BidRefusal::NotEligible)
        );
        let ok = Offer {
            eligible: true,
            amount: m("1000000"),
            ..late
        };
        assert_eq!(
            judge(&t, Course::Open, &terms, &NONE, ok, now),
            Ok(t.ends_at)
        );
        assert_eq!(BidRefusal::Paused.code(), "auction_not_open");
        assert_eq!(BidRefusal::NotEligible.code(), "not_eligible");
    }

    #[test]
    fn the_minimum_bid_is_the_start_then_one_increment_up_or_the_price_for_a_right_holder() {
        let terms = Terms {
            start_price: m("1000000"),
            increment: m("50000"),
            countdown: Duration::seconds(300),
            allow_self_raise: false,
        };
        let offer = Offer {
            bidder: 2,
            eligible: true,
            amount: m("1"),
            holds_right: false,
        };
        let none = Standing {
            current_price: None,
            leader: None,
            leader_holds_right: false,
        };
        assert_eq!(minimum_bid(&terms, &none, &offer), m("1000000"));
        let led = Standing {
            current_price: Some(m("1100000")),
            leader: Some(1),
            leader_holds_right: false,
        };
        assert_eq!(minimum_bid(&terms, &led, &offer), m("1150000"));
        let right = Offer {
            holds_right: true,
            ..offer
        };
        assert_eq!(minimum_bid(&terms, &led, &right), m("1100000"));
        // A right-holder who leads, or one behind another right-holder, must raise.
        let own = Standing {
            leader: Some(2),
            ..led
        };
        assert_eq!(minimum_bid(&terms, &own, &right), m("1150000"));
        let behind_right = Standing {
            leader_holds_right: true,
            ..led
        };
        assert_eq!(minimum_bid(&terms, &behind_right, &right), m("1150000"));
    }

    #[test]
    fn only_a_bid_too_low_against_an_existing_price_is_refused_before_the_lock() {
        let (t, terms) = setup();
        let now = t0() + Duration::seconds(10);
        let led = Standing {
            current_price: Some(m("1050000")),
            leader: Some(7),
            leader_holds_right: false,
        };
        let low = Offer {
            bidder: 1,
            eligible: true,
            amount: m("1050000"),
            holds_right: false,
        };
        assert!(refusable_early(&t, Course::Open, &terms, &led, low, now));
        // Not eligible, paused or closed: the lock decides what the bidder is told.
        let stranger = Offer {
            eligible: false,
            ..low
        };
        assert!(!refusable_early(
            &t,
            Course::Open,
            &terms,
            &led,
            stranger,
            now
        ));
        let paused = Course::Paused { since: t0() };
        assert!(!refusable_early(&t, paused, &terms, &led, low, now));
        assert!(!refusable_early(
            &t,
            Course::Open,
            &terms,
            &led,
            low,
            t.ends_at
        ));
        // Below the start price with no bid yet: the auction may not have started when read.
        let first = Offer {
            amount: m("1"),
            ..low
        };
        assert!(!refusable_early(
            &t,
            Course::Open,
            &terms,
            &NONE,
            first,
            now
        ));
        // A valid raise is never refused early.
        let raise = Offer {
            amount: m("1060000"),
            ..low
        };
        assert!(!refusable_early(&t, Course::Open, &terms, &led, raise, now));
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
