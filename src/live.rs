//! Live auction updates. After a change to an auction commits, its listing id is published on
//! an in-process hub; Server-Sent Events subscribers wake and read what is new from the
//! database (so nothing is missed, order is the database's, and `Last-Event-ID` resumes
//! exactly). With several instances on PostgreSQL, changes also `NOTIFY ax_auction` inside
//! their transaction (delivered only on commit); every instance listens and relays to its hub.
//! Subscribers also re-check every second, so a lost wake-up only delays an event.

use std::time::Duration;

use tokio::sync::broadcast;

use crate::store::{Conn, Db};

/// The PostgreSQL channel auction changes are announced on.
pub const CHANNEL: &str = "ax_auction";

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<i64>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { tx }
    }

    /// Wakes the subscribers of a listing's auction.
    pub fn publish(&self, listing_id: i64) {
        let _ = self.tx.send(listing_id);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.tx.subscribe()
    }
}

/// Announces a change inside the caller's transaction (PostgreSQL only; a no-op on SQLite,
/// where one instance serves everyone and publishes to its own hub).
pub fn notify_in_tx(conn: &mut Conn, listing_id: i64) -> Result<(), crate::error::AppError> {
    if let Conn::Pg(c) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!("NOTIFY {CHANNEL}, '{listing_id}'")).execute(*c)?;
    }
    Ok(())
}

/// On PostgreSQL, relays notifications from every instance to this instance's hub. Runs on
/// its own thread with its own connection; reconnects after errors; ends when `alive` says
/// the application is gone.
pub fn spawn_listener(
    db: &Db,
    database_url: &str,
    hub: Hub,
    alive: impl Fn() -> bool + Send + 'static,
) {
    if !matches!(db, Db::Postgres(_)) {
        return;
    }
    let url = database_url.to_string();
    let spawned = std::thread::Builder::new().name("ax-listen".into()).spawn(move || {
        while alive() {
            if let Err(e) = listen(&url, &hub, &alive) {
                tracing::warn!(error = %e, "auction notification listener failed; reconnecting");
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the auction notification listener");
    }
}

fn listen(url: &str, hub: &Hub, alive: &impl Fn() -> bool) -> Result<(), diesel::result::Error> {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::pg::PgConnection::establish(url)
        .map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    while alive() {
        // Reading pending input happens on a round trip; a trivial query every 50 ms keeps
        // latency low at negligible cost for one connection per instance.
        diesel::sql_query("SELECT 1").execute(&mut conn)?;
        for n in conn.notifications_iter() {
            let n = n?;
            if let Ok(id) = n.payload.parse::<i64>() {
                hub.publish(id);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
