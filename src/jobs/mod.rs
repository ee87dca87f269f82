//! Background work inside the app: periodic audit checkpoints (and, later, the timed
//! listing transitions and the mail outbox). Every job is safe to run on several instances
//! at once: the database decides who does the work.

use std::time::Duration;

use actix_web::web;

use crate::audit;
use crate::state::AppState;

/// Starts the jobs; they stop when the returned handles are aborted or the runtime ends.
pub fn spawn(state: web::Data<AppState>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    let every = state.settings.audit.checkpoint_interval_seconds;
    if every > 0 {
        handles.push(tokio::spawn(checkpoints(state, Duration::from_secs(every))));
    }
    handles
}

async fn checkpoints(state: web::Data<AppState>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; wait one period first
    loop {
        tick.tick().await;
        let s = state.clone();
        let result = web::block(move || {
            let now = s.clock.now();
            audit::checkpoint_now(&s.db, &s.audit_signer, now, false)
        })
        .await;
        match result {
            Ok(Ok(Some(cp))) => tracing::info!(
                id = cp.id,
                streams = cp.streams,
                events = cp.events,
                "audit checkpoint signed"
            ),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "audit checkpoint failed; will retry"),
            Err(e) => tracing::warn!(error = %e, "audit checkpoint task failed; will retry"),
        }
    }
}
