//! Background work inside the app: periodic audit checkpoints (and, later, the timed
//! listing transitions and the mail outbox). Every job is safe to run on several instances
//! at once: the database decides who does the work.

pub mod listings;
pub mod outbox;
pub mod sandbox;
pub mod webhooks;

use std::time::Duration;

use actix_web::web;
use tokio::sync::watch;

use crate::audit;
use crate::state::AppState;

/// The running jobs: the mail worker stops gracefully, the others are aborted.
pub struct Jobs {
    stop: watch::Sender<bool>,
    graceful: Vec<tokio::task::JoinHandle<()>>,
    abortable: Vec<tokio::task::JoinHandle<()>>,
}

impl Jobs {
    /// Asks every job to stop and waits (up to `grace`) for sends in flight to finish.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        for job in &self.abortable {
            job.abort();
        }
        for job in self.graceful {
            if tokio::time::timeout(grace, job).await.is_err() {
                tracing::warn!("a job did not stop within the grace period");
            }
        }
    }

    /// Stops everything at once (tests).
    pub fn abort(&self) {
        let _ = self.stop.send(true);
        for job in self.graceful.iter().chain(&self.abortable) {
            job.abort();
        }
    }
}

/// Starts the jobs.
pub fn spawn(state: web::Data<AppState>) -> Jobs {
    let (stop, stopped) = watch::channel(false);
    let graceful = vec![
        tokio::spawn(outbox::run(state.clone(), stopped.clone())),
        // awc's client is not Send: the webhook worker runs on the current (actix) thread.
        actix_web::rt::spawn(webhooks::run(state.clone(), stopped.clone())),
        // The scheduler finishes the round it is in: aborted, its blocking database work
        // would go on after the stop.
        tokio::spawn(listings::run(state.clone(), stopped)),
    ];
    let mut handles = Vec::new();
    let every = state.settings.audit.checkpoint_interval_seconds;
    if every > 0 {
        handles.push(tokio::spawn(checkpoints(state, Duration::from_secs(every))));
    }
    Jobs {
        stop,
        graceful,
        abortable: handles,
    }
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
