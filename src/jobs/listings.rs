//! The listing scheduler: decides listings whose disclosure has ended and flags overdue
//! suspensions. Every instance runs it; the row lock and conditional update in
//! `exchange::decide` make each decision happen once.

use std::time::Duration;

use actix_web::web;

use crate::exchange::decide;
use crate::state::AppState;
use crate::store::listings;

/// Listings decided per round at most.
const BATCH: i64 = 50;

pub async fn run(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_millis(
        state.settings.listing.scheduler_tick_ms,
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = round(&state).await {
            tracing::warn!(error = %e, "listing scheduler round failed; will retry");
        }
    }
}

async fn round(state: &web::Data<AppState>) -> Result<(), crate::error::AppError> {
    let now = state.clock.now();
    let due = state
        .db
        .run(move |c| listings::due_for_decision(c, now, BATCH))
        .await?;
    for id in due {
        let s = state.clone();
        let decided = state
            .db
            .tx(move |c| decide::decide_if_due(c, &s.notifier, id, s.clock.now()))
            .await?;
        if let Some(status) = decided {
            tracing::info!(
                listing_id = id,
                status = status.as_str(),
                "disclosure ended"
            );
        }
    }
    auctions(state).await?;
    if !state
        .db
        .run(move |c| crate::store::deals::contract_overdue(c, now))
        .await?
        .is_empty()
    {
        let n = state
            .db
            .tx(move |c| crate::exchange::deals::flag_overdue_contracts(c, now))
            .await?;
        tracing::warn!(
            flagged = n,
            "deals past their contract deadline were flagged"
        );
    }
    let months = chrono::Months::new(state.rules.max_suspension_months);
    let before = now.checked_sub_months(months).unwrap_or(now);
    if state
        .db
        .run(move |c| listings::overdue_suspensions(c, before))
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let s = state.clone();
    let flagged = state
        .db
        .tx(move |c| decide::flag_overdue_suspensions(c, &s.rules, s.clock.now()))
        .await?;
    if flagged > 0 {
        tracing::warn!(flagged, "suspensions past their limit were flagged");
    }
    Ok(())
}

/// Moves scheduled auctions to `bidding` at their start and closes those past their end.
async fn auctions(state: &web::Data<AppState>) -> Result<(), crate::error::AppError> {
    use crate::domain::listing::{Action, ListingStatus, transition};
    use crate::store::auctions as store;
    let now = state.clock.now();
    for id in state
        .db
        .run(move |c| store::due_to_start(c, now, BATCH))
        .await?
    {
        let s = state.clone();
        state
            .db
            .tx(move |c| {
                let Some(a) = store::find(c, id)? else {
                    return Ok(());
                };
                let Some(l) = listings::find_for_update(c, a.listing_id)? else {
                    return Ok(());
                };
                if l.status == "auction_scheduled" {
                    let now = s.clock.now();
                    let to = transition(ListingStatus::AuctionScheduled, Action::StartBidding)?;
                    listings::set_status(c, l.id, "auction_scheduled", to.as_str(), now)?;
                    crate::audit::record(
                        c,
                        now,
                        crate::audit::Event {
                            stream: format!("listing:{}", l.id),
                            action: "auction.started",
                            actor: crate::audit::Actor::SYSTEM,
                            payload: serde_json::json!({"listing_id": l.id, "auction_id": a.id}),
                            meta: &crate::audit::RequestMeta::default(),
                        },
                    )?;
                    crate::live::notify_in_tx(c, l.id)?;
                }
                Ok(())
            })
            .await?;
    }
    for id in state
        .db
        .run(move |c| store::due_to_close(c, now, BATCH))
        .await?
    {
        let s = state.clone();
        let closed = state
            .db
            .tx(move |c| crate::exchange::auctions::close_if_due(c, &s.deps(), id, s.clock.now()))
            .await?;
        if let Some(status) = closed {
            if let Ok(Some(a)) = state.db.run(move |c| store::find(c, id)).await {
                state.hub.publish(a.listing_id);
            }
            tracing::info!(auction_id = id, status = status.as_str(), "auction closed");
        }
    }
    Ok(())
}
