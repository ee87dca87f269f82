//! The scheduler: everything the clock moves. Each round it decides listings whose disclosure
//! ended, starts and closes auctions, flags contracts past their deadline, lapses offers the
//! runner-up did not answer and ends suspensions that outlived their limit. Every instance
//! runs it; each item is its own transaction whose use case locks its rows and checks again,
//! so it happens once.
//!
//! Nothing can block it: the queues never hold dead items (auctions of suspended or ended
//! listings are not due), and an item that fails is logged, counted in `/metrics`
//! (`ax_scheduler_failures_total`) and retried after a growing delay while the other items of
//! the round still run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::web;
use chrono::{DateTime, Months, Utc};

use crate::error::AppError;
use crate::exchange::{auctions, deals, decide, listings as listing_uc};
use crate::state::AppState;
use crate::store::{Conn, auctions as auction_store, deals as deal_store, listings};

/// Items handled per job and round at most.
const BATCH: i64 = 50;
/// The first retry of a failed item waits this long; each failure doubles it, up to `MAX`.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// The scheduler's timed jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    DisclosureEnd,
    AuctionStart,
    AuctionClose,
    ContractOverdue,
    PaymentOverdue,
    OfferLapse,
    SuspensionExpiry,
}

impl Job {
    pub const ALL: [Job; 7] = [
        Job::DisclosureEnd,
        Job::AuctionStart,
        Job::AuctionClose,
        Job::ContractOverdue,
        Job::PaymentOverdue,
        Job::OfferLapse,
        Job::SuspensionExpiry,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::DisclosureEnd => "disclosure_end",
            Job::AuctionStart => "auction_start",
            Job::AuctionClose => "auction_close",
            Job::ContractOverdue => "contract_overdue",
            Job::PaymentOverdue => "payment_overdue",
            Job::OfferLapse => "offer_lapse",
            Job::SuspensionExpiry => "suspension_expiry",
        }
    }

    /// The items due at `now`, oldest first (at most `limit`).
    fn due(
        self,
        c: &mut Conn,
        state: &AppState,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<i64>, AppError> {
        match self {
            Job::DisclosureEnd => listings::due_for_decision(c, now, limit),
            Job::AuctionStart => auction_store::due_to_start(c, now, limit),
            Job::AuctionClose => auction_store::due_to_close(c, now, limit),
            Job::ContractOverdue => Ok(deal_store::contract_overdue(c, now, limit)?
                .into_iter()
                .map(|d| d.id)
                .collect()),
            Job::PaymentOverdue => Ok(deal_store::unpaid(c, limit)?
                .into_iter()
                .filter(|d| {
                    let paid = crate::domain::money::Money::from_fen(d.paid_total);
                    deals::schedule(d).is_some_and(|s| s.missed(paid, now).is_some())
                })
                .map(|d| d.id)
                .collect()),
            Job::OfferLapse => deal_store::offers_lapsed(c, now, limit),
            Job::SuspensionExpiry => {
                let months = Months::new(state.rules.max_suspension_months);
                let before = now.checked_sub_months(months).unwrap_or(now);
                listings::overdue_suspensions(c, before, limit)
            }
        }
    }

    /// Does one item in the caller's transaction; true when this call changed something.
    fn act(self, c: &mut Conn, state: &AppState, id: i64) -> Result<bool, AppError> {
        let now = state.clock.now();
        let deps = state.deps();
        match self {
            Job::DisclosureEnd => Ok(decide::decide_if_due(c, &state.notifier, id, now)?.is_some()),
            Job::AuctionStart => Ok(auctions::start_if_due(c, id, now)?.is_some()),
            Job::AuctionClose => Ok(auctions::close_if_due(c, &deps, id, now)?.is_some()),
            Job::ContractOverdue => deals::flag_overdue_contract(c, id, now),
            Job::PaymentOverdue => deals::flag_overdue_payment(c, id, now),
            Job::OfferLapse => deals::lapse_overdue_offers(c, &deps, id, now),
            Job::SuspensionExpiry => listing_uc::expire_suspensions(c, &deps, id, now),
        }
    }

    /// The listing an item belongs to, for waking live subscribers after it changed.
    fn listing_of(self, c: &mut Conn, id: i64) -> Result<Option<i64>, AppError> {
        match self {
            Job::AuctionStart | Job::AuctionClose => {
                Ok(auction_store::find(c, id)?.map(|a| a.listing_id))
            }
            Job::ContractOverdue | Job::PaymentOverdue | Job::OfferLapse => {
                Ok(deal_store::find(c, id)?.map(|d| d.listing_id))
            }
            Job::DisclosureEnd | Job::SuspensionExpiry => Ok(Some(id)),
        }
    }
}

/// Items that failed, and when each may be tried again.
#[derive(Debug, Default)]
pub struct Retries {
    waiting: HashMap<(Job, i64), (Instant, Duration)>,
    /// Reminders this instance has seen sent (so it does not ask the database every tick).
    reminded: std::collections::HashSet<String>,
}

impl Retries {
    /// Whether the item waits for its retry at `now`.
    fn waits(&self, job: Job, id: i64, now: Instant) -> bool {
        self.waiting
            .get(&(job, id))
            .is_some_and(|(next, _)| now < *next)
    }

    fn failed(&mut self, job: Job, id: i64, now: Instant) -> Duration {
        let delay = self
            .waiting
            .get(&(job, id))
            .map_or(RETRY_FIRST, |(_, d)| (*d * 2).min(RETRY_MAX));
        self.waiting.insert((job, id), (now + delay, delay));
        delay
    }

    fn succeeded(&mut self, job: Job, id: i64) {
        self.waiting.remove(&(job, id));
    }

    fn waiting_for(&self, job: Job) -> usize {
        self.waiting.keys().filter(|(j, _)| *j == job).count()
    }
}

/// Runs a round every tick until told to stop; a round in progress is finished first, so a
/// stopped scheduler runs no statement afterwards.
pub async fn run(state: web::Data<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(
        state.settings.listing.scheduler_tick_ms,
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retries = Retries::default();
    loop {
        let told = tokio::select! {
            _ = tick.tick() => false,
            changed = stop.changed() => changed.is_err(),
        };
        if told || *stop.borrow() {
            break;
        }
        round(&state, &mut retries).await;
    }
}

/// One round over every job. Never fails as a whole: each item stands on its own.
pub async fn round(state: &web::Data<AppState>, retries: &mut Retries) {
    if let Err(e) = super::sandbox::refresh_clock(state).await {
        tracing::warn!(error = %e, "cannot read the sandbox clock; keeping the offset in force");
    }
    for job in Job::ALL {
        run_job(state, retries, job).await;
    }
    reminders(state, retries).await;
}

/// Sends the deadline reminders that are due, each in its own transaction.
async fn reminders(state: &web::Data<AppState>, retries: &mut Retries) {
    let now = state.clock.now();
    let s = state.clone();
    let due = match state
        .db
        .run(move |c| crate::exchange::reminders::due(c, &s.rules, now))
        .await
    {
        Ok(due) => due,
        Err(e) => {
            state.metrics.count_scheduler_failure("reminders");
            tracing::warn!(error = %e, "cannot list deadline reminders; will retry");
            return;
        }
    };
    // Forget reminders that are no longer due (their window passed): the set stays small.
    let current: std::collections::HashSet<String> = due.iter().map(|r| r.key()).collect();
    retries.reminded.retain(|k| current.contains(k));
    for r in due {
        let key = r.key();
        if retries.reminded.contains(&key) {
            continue;
        }
        let s = state.clone();
        let sent = state
            .db
            .tx(move |c| crate::exchange::reminders::send(c, &s.deps(), &r, s.clock.now()))
            .await;
        match sent {
            Ok(_) => {
                retries.reminded.insert(key);
            }
            Err(e) => {
                state.metrics.count_scheduler_failure("reminders");
                tracing::warn!(error = %e, "a deadline reminder failed; will retry");
            }
        }
    }
}

async fn run_job(state: &web::Data<AppState>, retries: &mut Retries, job: Job) {
    let now = state.clock.now();
    // Ask for enough to fill the batch even if items waiting for their retry come first.
    let limit = BATCH + i64::try_from(retries.waiting_for(job)).unwrap_or(0);
    let s = state.clone();
    let due = match state.db.run(move |c| job.due(c, &s, now, limit)).await {
        Ok(due) => due,
        Err(e) => {
            state.metrics.count_scheduler_failure(job.name());
            tracing::warn!(job = job.name(), error = %e, "scheduler cannot list due items; will retry");
            return;
        }
    };
    let started = Instant::now();
    let ready: Vec<i64> = due
        .into_iter()
        .filter(|id| !retries.waits(job, *id, started))
        .take(usize::try_from(BATCH).unwrap_or(50))
        .collect();
    for id in ready {
        let s = state.clone();
        match state.db.tx(move |c| job.act(c, &s, id)).await {
            Ok(changed) => {
                retries.succeeded(job, id);
                if changed {
                    tracing::info!(job = job.name(), id, "scheduler moved an item");
                    wake(state, job, id).await;
                }
            }
            Err(e) => {
                state.metrics.count_scheduler_failure(job.name());
                let delay = retries.failed(job, id, Instant::now());
                tracing::warn!(
                    job = job.name(), id, error = %e, retry_in_ms = delay.as_millis() as u64,
                    "scheduler item failed; the others go on"
                );
            }
        }
    }
}

/// Wakes this instance's live subscribers of the item's listing (other instances hear the
/// NOTIFY sent inside the transaction).
async fn wake(state: &web::Data<AppState>, job: Job, id: i64) {
    if let Ok(Some(listing_id)) = state.db.run(move |c| job.listing_of(c, id)).await {
        state.hub.publish(listing_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_item_waits_longer_after_each_failure_and_not_after_success() {
        let mut r = Retries::default();
        let t = Instant::now();
        assert!(!r.waits(Job::AuctionClose, 7, t));
        assert_eq!(r.failed(Job::AuctionClose, 7, t), RETRY_FIRST);
        assert!(r.waits(Job::AuctionClose, 7, t));
        assert!(!r.waits(Job::AuctionClose, 8, t));
        assert!(!r.waits(Job::AuctionStart, 7, t));
        assert!(!r.waits(Job::AuctionClose, 7, t + RETRY_FIRST));
        assert_eq!(r.failed(Job::AuctionClose, 7, t), RETRY_FIRST * 2);
        for _ in 0..20 {
            r.failed(Job::AuctionClose, 7, t);
        }
        assert_eq!(r.failed(Job::AuctionClose, 7, t), RETRY_MAX);
        assert_eq!(r.waiting_for(Job::AuctionClose), 1);
        r.succeeded(Job::AuctionClose, 7);
        assert!(!r.waits(Job::AuctionClose, 7, t));
        assert_eq!(r.waiting_for(Job::AuctionClose), 0);
    }
}
