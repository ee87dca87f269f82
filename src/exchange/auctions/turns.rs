//! Bids on one auction take turns in this instance before they take its row lock.
//!
//! On a contested auction most bid requests lose: a dozen bidders send the same next amount
//! at once and one of them is placed. Without turns every request that passed the reads
//! before the queue (see [`super::before_lock`]) opened a transaction, held a pooled
//! connection while it waited for the auction's row lock, and was refused only once it got
//! the lock, one after another, each a round trip or three under the lock. With turns the
//! requests of one auction wait here, holding nothing, one at a time; the request whose
//! turn it is first compares its amount with the auction as the last bid placed through
//! this instance left it, committed: a bid at or below that price is refused at once,
//! without a transaction (the same answer the lock would have given: it is the state that
//! holds once that bid committed, after this request's own read). Only a bid that can win
//! opens a transaction. The row lock still orders bids across instances; turns only spare
//! the database the queue of bids that lost already.
//!
//! A refused request may be the retry of one that was placed: the read before the queue
//! also looks for a bid under the request's key, and if exactly one bid was placed since
//! that read and it is another request's, the refusal is final; otherwise the key is looked
//! up before the answer, as after a refusal under the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::Queued;
use super::bid::Placed;
use crate::domain::money::Money;
use crate::error::AppError;
use crate::store::auctions::AuctionRow;

/// Past this many auctions, the next turn forgets the ones nobody is waiting on (what they
/// remember is only a shortcut: a forgotten auction's next bid is judged under its lock).
const FORGET_AT: usize = 1_024;

/// The turns of every auction bid on through this instance.
#[derive(Default)]
pub struct Turns {
    auctions: Mutex<HashMap<i64, Arc<AsyncMutex<Last>>>>,
}

/// The auction as the last bid placed through this instance left it, once committed, and
/// who placed that bid under which key (none yet: `None`).
#[derive(Default)]
pub struct Last(Option<LastBid>);

struct LastBid {
    auction: AuctionRow,
    user_id: i64,
    key: String,
}

/// A bid refused in its turn.
pub struct Refused {
    pub error: AppError,
    /// More than one bid was placed since the request's read, or the one placed carries the
    /// request's own key: it may be the retry of one of them, so its key must be looked up
    /// before it is answered with `error` (see [`super::replay_or`]).
    pub look_up_key: bool,
}

/// A bid request's turn on its auction: no other request of this instance bids on it until
/// the turn is dropped.
pub struct Turn(OwnedMutexGuard<Last>);

impl Turns {
    /// Waits for the turn on `auction_id` (requests are served in the order they came).
    pub async fn take(&self, auction_id: i64) -> Turn {
        let gate = {
            let mut auctions = self.auctions.lock().unwrap_or_else(PoisonError::into_inner);
            if auctions.len() >= FORGET_AT {
                auctions.retain(|_, gate| Arc::strong_count(gate) > 1);
            }
            Arc::clone(auctions.entry(auction_id).or_default())
        };
        Turn(gate.lock_owned().await)
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.auctions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Turn {
    /// `bid_too_low` if a bid placed through this instance after the request's read (and
    /// committed) already holds a price this `amount` cannot beat; `None` if the bid must be
    /// judged under the lock. `user_id` and `key` are the request's.
    pub fn refusal(
        &self,
        queued: &Queued,
        amount: Money,
        now: DateTime<Utc>,
        user_id: i64,
        key: &str,
    ) -> Option<Refused> {
        let seen = queued.seen()?;
        let LastBid {
            auction: last,
            user_id: by,
            key: last_key,
        } = self.0.0.as_ref()?;
        let read = seen.auction();
        // Committed after the request's read: each bid adds one to the count.
        if last.id != read.id || last.bid_count <= read.bid_count {
            return None;
        }
        let error = seen.refuse_against(last, amount, now).err()?;
        // The read saw no bid under the request's key; if the only bid since is another
        // request's, none has it now either.
        let one_other =
            last.bid_count == read.bid_count + 1 && (*by, last_key.as_str()) != (user_id, key);
        Some(Refused {
            error,
            look_up_key: !one_other,
        })
    }

    /// Remembers the auction as `placed` left it, once its transaction committed, with the
    /// request's user and key.
    pub fn placed(&mut self, placed: &Placed, user_id: i64, key: &str) {
        if let Some(after) = &placed.after {
            self.0.0 = Some(LastBid {
                auction: AuctionRow::clone(after),
                user_id,
                key: key.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_auction_serves_its_turns_in_order_and_others_do_not_wait() {
        let turns = Arc::new(Turns::default());
        let first = turns.take(1).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for n in 0..3 {
            let (turns, order) = (Arc::clone(&turns), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let _turn = turns.take(1).await;
                order.lock().unwrap().push(n);
            }));
            // Each waiter queues before the next one is spawned.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Another auction's turn is free while auction 1's is held.
        let other = tokio::time::timeout(Duration::from_secs(1), turns.take(2)).await;
        assert!(other.is_ok(), "auction 2 waited for auction 1");
        assert!(
            order.lock().unwrap().is_empty(),
            "a turn was given while held"
        );
        drop(first);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    }

    #[tokio::test]
    async fn auctions_nobody_waits_on_are_forgotten_past_the_limit() {
        let turns = Turns::default();
        for id in 0..FORGET_AT as i64 {
            drop(turns.take(id).await);
        }
        assert_eq!(turns.remembered(), FORGET_AT);
        let held = turns.take(-1).await;
        assert_eq!(
            turns.remembered(),
            1,
            "only the auction being bid on is kept"
        );
        let _next = turns.take(-2).await;
        assert_eq!(turns.remembered(), 2);
        drop(held);
    }
}
