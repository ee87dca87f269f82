//! Simulated bidders on the live auction: every 2–8 s one of its eligible demo bidders (not
//! the leader) bids the price plus 1–3 increments, through the same use case and
//! transaction as `POST /listings/{id}/bids`, and wakes the event-stream subscribers. Each
//! bidder stops raising at a budget drawn at start, so the countdown eventually runs out and
//! the scheduler closes the auction; the task then ends.

use std::time::Duration;

use actix_web::web;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::audit::RequestMeta;
use crate::auth::AuthUser;
use crate::domain::Role;
use crate::domain::auction::Phase;
use crate::domain::listing::ListingStatus;
use crate::domain::money::Money;
use crate::error::AppError;
use crate::exchange::auctions;
use crate::exchange::registrations::By;
use crate::state::AppState;
use crate::store::{auctions as auction_store, listings, registrations, users};

/// A bidder as the simulation sees it: who may raise, and up to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contender {
    pub registration_id: i64,
    /// The highest amount (fen) this bidder will bid.
    pub budget: i64,
}

/// The next bid: which contender bids and how much (fen). Nobody raises their own lead or
/// beyond their budget; the first bid is the start price plus 0–2 increments, later ones the
/// price plus 1–3. `None` when nobody but the leader can go on.
pub fn next_bid(
    start: i64,
    increment: i64,
    current: Option<i64>,
    leader: Option<i64>,
    contenders: &[Contender],
    rng: &mut impl Rng,
) -> Option<(usize, i64)> {
    if increment <= 0 {
        return None;
    }
    let (base, least) = match current {
        None => (start, 0),
        Some(price) => (price, 1),
    };
    let able: Vec<usize> = contenders
        .iter()
        .enumerate()
        .filter(|(_, c)| Some(c.registration_id) != leader && c.budget >= base + least * increment)
        .map(|(i, _)| i)
        .collect();
    if able.is_empty() {
        return None;
    }
    let who = able[rng.gen_range(0..able.len())];
    let room = (contenders[who].budget - base) / increment;
    let steps = rng.gen_range(least..=least + 2).min(room);
    Some((who, base + steps * increment))
}

/// A budget between 125 % and 160 % of the start price, on the increment grid.
pub fn budget(start: i64, increment: i64, rng: &mut impl Rng) -> i64 {
    let percent: i64 = rng.gen_range(125..=160);
    let raise = (start / 100).saturating_mul(percent - 100);
    start + raise / increment.max(1) * increment.max(0)
}

/// One simulated bidder.
#[derive(Debug, Clone)]
struct Bidder {
    user: AuthUser,
    meta: RequestMeta,
    contender: Contender,
    code: String,
}

/// What one round of the simulation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    Placed {
        seq: i32,
        amount: Money,
        bidder_code: String,
    },
    /// Nobody may or wants to bid right now (not started, paused, budgets reached).
    Waiting,
    /// The auction is over: the simulation stops.
    Closed,
}

/// The simulated bidders of one auction.
pub struct Simulator {
    pub listing_id: i64,
    start: i64,
    increment: i64,
    bidders: Vec<Bidder>,
    rng: StdRng,
}

impl Simulator {
    /// Takes the first `count` eligible bidders of the listing's current round.
    pub async fn load(
        state: &web::Data<AppState>,
        listing_id: i64,
        count: usize,
    ) -> Result<Self, AppError> {
        let (auction, found) = state
            .db
            .run(move |c| {
                let listing = listings::find(c, listing_id)?
                    .ok_or_else(|| AppError::not_found("no such listing"))?;
                let auction = auction_store::of_listing(c, listing_id, listing.round)?
                    .ok_or_else(|| AppError::conflict("invalid_state", "no auction"))?;
                let mut found = Vec::new();
                for r in registrations::of_round(c, listing_id, listing.round)? {
                    let eligible = crate::exchange::registrations::may_bid(&r);
                    if let (true, Some((user, _))) = (eligible, users::find_with_org(c, r.user_id)?)
                    {
                        found.push((user, r));
                    }
                }
                Ok((auction, found))
            })
            .await?;
        let mut rng = StdRng::from_entropy();
        let bidders = found
            .into_iter()
            .take(count)
            .map(|(user, reg)| Bidder {
                user: AuthUser {
                    id: user.id,
                    role: Role::Bidder,
                    organization_id: user.organization_id,
                    session_id: 0,
                    scope: Default::default(),
                },
                meta: RequestMeta {
                    client_ip: reg.client_ip.as_deref().and_then(|ip| ip.parse().ok()),
                    request_id: None,
                    user_agent: Some("asset-exchange demo (simulated bidder)".into()),
                },
                contender: Contender {
                    registration_id: reg.id,
                    budget: budget(auction.start_price, auction.increment, &mut rng),
                },
                code: reg.bidder_code.unwrap_or_default(),
            })
            .collect();
        Ok(Self {
            listing_id,
            start: auction.start_price,
            increment: auction.increment,
            bidders,
            rng,
        })
    }

    /// How many bidders take part.
    pub fn bidders(&self) -> usize {
        self.bidders.len()
    }

    /// A pause of 2 to 8 seconds.
    pub fn pause(&mut self) -> Duration {
        Duration::from_millis(self.rng.gen_range(2_000..=8_000))
    }

    /// Looks at the auction and, if it is open and someone can raise, places one bid the
    /// way the HTTP handler does: one transaction, then the subscribers are woken.
    pub async fn tick(&mut self, state: &web::Data<AppState>) -> Result<Tick, AppError> {
        let id = self.listing_id;
        let now = state.clock.now();
        let (status, auction) = state
            .db
            .run(move |c| {
                let listing =
                    listings::find(c, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
                let auction = auction_store::of_listing(c, id, listing.round)?;
                Ok((ListingStatus::parse(&listing.status), auction))
            })
            .await?;
        let Some(auction) = auction else {
            return Ok(Tick::Closed);
        };
        match status {
            Some(ListingStatus::Suspended) => return Ok(Tick::Waiting),
            Some(ListingStatus::AuctionScheduled | ListingStatus::Bidding) => {}
            _ => return Ok(Tick::Closed),
        }
        match auctions::times(&auction).phase(now) {
            _ if auction.closed_at.is_some() => return Ok(Tick::Closed),
            Phase::Closed => return Ok(Tick::Closed),
            Phase::Scheduled | Phase::Paused => return Ok(Tick::Waiting),
            Phase::Free | Phase::Countdown | Phase::Sealed => {}
        }
        let contenders: Vec<Contender> = self.bidders.iter().map(|b| b.contender).collect();
        let Some((who, amount)) = next_bid(
            self.start,
            self.increment,
            auction.current_price,
            auction.leading_registration_id,
            &contenders,
            &mut self.rng,
        ) else {
            return Ok(Tick::Waiting);
        };
        let bidder = self.bidders[who].clone();
        let key = format!("demo-sim-{}", &crate::random::token()[..20]);
        let amount = Money::from_fen(amount);
        let st = state.clone();
        let (user, meta) = (bidder.user, bidder.meta);
        let placed = state
            .db
            .tx(move |c| {
                auctions::place_bid(
                    c,
                    &st.deps(),
                    &By {
                        user: &user,
                        meta: &meta,
                        now,
                    },
                    id,
                    amount,
                    &key,
                )
            })
            .await?;
        if !placed.replay {
            state.hub.publish(id);
        }
        Ok(Tick::Placed {
            seq: placed.bid.seq,
            amount,
            bidder_code: bidder.code,
        })
    }
}

/// Runs the simulation until the auction is over. Abort the handle to stop it earlier.
pub fn spawn(state: web::Data<AppState>, mut sim: Simulator) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(sim.pause()).await;
            match sim.tick(&state).await {
                Ok(Tick::Placed {
                    seq,
                    amount,
                    bidder_code,
                }) => tracing::info!(
                    listing_id = sim.listing_id,
                    seq,
                    %amount,
                    bidder_code,
                    "simulated bid"
                ),
                Ok(Tick::Waiting) => {}
                Ok(Tick::Closed) => {
                    tracing::info!(
                        listing_id = sim.listing_id,
                        "the live auction is over; the simulated bidders stop"
                    );
                    break;
                }
                Err(e) => tracing::debug!(error = %e, "a simulated bid was not accepted"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn contenders() -> Vec<Contender> {
        (1..=4)
            .map(|i| Contender {
                registration_id: i,
                budget: 1_000_000 + i * 100_000,
            })
            .collect()
    }

    #[test]
    fn the_first_bid_is_the_start_price_plus_up_to_two_increments() {
        let mut r = rng();
        for _ in 0..200 {
            let (_, amount) =
                next_bid(1_000_000, 10_000, None, None, &contenders(), &mut r).unwrap();
            assert!((1_000_000..=1_020_000).contains(&amount));
            assert_eq!((amount - 1_000_000) % 10_000, 0);
        }
    }

    #[test]
    fn later_bids_raise_one_to_three_increments_and_never_by_the_leader() {
        let mut r = rng();
        let c = contenders();
        for _ in 0..500 {
            let (who, amount) =
                next_bid(1_000_000, 10_000, Some(1_050_000), Some(2), &c, &mut r).unwrap();
            assert_ne!(c[who].registration_id, 2);
            assert!((1_060_000..=1_080_000).contains(&amount), "{amount}");
            assert_eq!((amount - 1_050_000) % 10_000, 0);
            assert!(amount <= c[who].budget);
        }
    }

    #[test]
    fn nobody_bids_beyond_a_budget() {
        let mut r = rng();
        let c = contenders();
        // Only registration 4 (budget 1,400,000) can raise 1,390,000; it bids exactly its budget.
        for _ in 0..50 {
            let (who, amount) =
                next_bid(1_000_000, 10_000, Some(1_390_000), Some(1), &c, &mut r).unwrap();
            assert_eq!(c[who].registration_id, 4);
            assert_eq!(amount, 1_400_000);
        }
    }

    #[test]
    fn the_bidding_stops_when_only_the_leader_could_go_on() {
        let c = contenders();
        assert_eq!(
            next_bid(1_000_000, 10_000, Some(1_395_000), Some(4), &c, &mut rng()),
            None
        );
    }

    #[test]
    fn budgets_lie_on_the_increment_grid_between_125_and_160_percent() {
        let mut r = rng();
        for _ in 0..200 {
            // 8,600,000 yuan in steps of 10,000 yuan, in fen
            let (start, step) = (860_000_000, 1_000_000);
            let b = budget(start, step, &mut r);
            assert!((1_075_000_000..=1_376_000_000).contains(&b), "{b}");
            assert_eq!((b - start) % step, 0);
        }
    }
}
