//! Live auction updates. After a change to an auction commits, its listing id is published on
//! this instance's hub, which wakes the listing's feed (see [`feed`]): one task per watched
//! listing reads what changed once and sends the same encoded Server-Sent Events to every
//! subscriber, so an idle subscriber costs no database work. With several instances on
//! PostgreSQL, changes also `NOTIFY ax_auction` inside their transaction (delivered only on
//! commit); every instance listens and relays to its hub. Streams are capped per client
//! address and per instance ([`caps`]).

pub mod caps;
pub mod feed;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::LiveSettings;
use crate::error::AppError;
use crate::store::{Conn, Db};

pub use caps::Permit;
pub use feed::{Frames, Head, Kind, Look, Member, Source};

/// The PostgreSQL channel auction changes are announced on.
pub const CHANNEL: &str = "ax_auction";

/// Live feeds and stream caps of one instance.
#[derive(Clone)]
pub struct Hub {
    feeds: Arc<feed::Feeds>,
    caps: Arc<caps::Caps>,
    retry_after_seconds: u64,
}

impl Hub {
    pub fn new(settings: &LiveSettings) -> Self {
        let timing = feed::Timing {
            keep_alive: Duration::from_secs(settings.keep_alive_seconds),
            recheck: Duration::from_secs(settings.recheck_seconds),
            max_stream: Duration::from_secs(settings.max_stream_seconds),
            max_idle: Duration::from_secs(settings.max_idle_seconds),
            buffer: settings.subscriber_buffer,
        };
        Self {
            feeds: feed::Feeds::new(timing),
            caps: caps::Caps::new(settings.sse_max_per_address, settings.sse_max_per_instance),
            retry_after_seconds: settings.retry_after_seconds,
        }
    }

    /// Wakes the feed of a listing's auction (if anyone here watches it).
    pub fn publish(&self, listing_id: i64) {
        self.feeds.publish(listing_id);
    }

    /// A place for one more stream from `ip`, or 429 `too_many_streams`.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<Permit, AppError> {
        self.caps.admit(ip).map_err(|refusal| {
            let detail = match refusal {
                caps::Refusal::PerAddress(n) => {
                    format!("at most {n} live streams per client address; close one first")
                }
                caps::Refusal::PerInstance(n) => {
                    format!("this server already holds {n} live streams; try again shortly")
                }
            };
            AppError::Throttled {
                code: "too_many_streams",
                detail,
                retry_after_seconds: self.retry_after_seconds,
            }
        })
    }

    /// Joins the feed of a listing (starting it with `source()` if none runs here).
    pub async fn join(
        &self,
        listing_id: i64,
        source: impl FnOnce() -> Box<dyn Source>,
    ) -> Result<Member, AppError> {
        self.feeds.join(listing_id, source).await
    }

    /// Streams open now.
    pub fn streams(&self) -> u32 {
        self.caps.open()
    }

    /// Feeds running now (listings watched on this instance).
    pub fn feeds(&self) -> usize {
        self.feeds.running()
    }

    /// Reads done by all feeds so far.
    pub fn looks(&self) -> u64 {
        self.feeds.looks()
    }

    /// Ends every feed and so every stream (at shutdown, so clients reconnect elsewhere).
    pub fn close_all(&self) {
        self.feeds.close_all();
    }
}

/// Announces a change inside the caller's transaction (PostgreSQL only; a no-op on SQLite,
/// where one instance serves everyone and publishes to its own hub).
pub fn notify_in_tx(conn: &mut Conn, listing_id: i64) -> Result<(), crate::error::AppError> {
    if let Conn::Pg(c) = conn {
        use diesel::RunQueryDsl;
        // `pg_notify` rather than NOTIFY: its arguments are bind parameters, so this is one
        // prepared statement for every listing (the same delivery as NOTIFY).
        let (channel, payload) = announcement(listing_id);
        diesel::select(pg_notify(channel, payload)).execute(*c)?;
    }
    Ok(())
}

/// What [`notify_in_tx`] sends for a listing, for a write that sends it in its own
/// statement (an accepted bid, on PostgreSQL): the channel and the payload.
pub fn announcement(listing_id: i64) -> (&'static str, String) {
    (CHANNEL, listing_id.to_string())
}

// pg_notify returns void, which nothing reads: the statement is only executed.
diesel::define_sql_function!(fn pg_notify(channel: diesel::sql_types::Text, payload: diesel::sql_types::Text) -> diesel::sql_types::Text);

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

/// How often the listener checks that its connection still works (a plain read of pending
/// notifications does not notice a server that went away without closing the connection).
const LISTENER_PING: Duration = Duration::from_secs(5);

fn listen(url: &str, hub: &Hub, alive: &impl Fn() -> bool) -> Result<(), diesel::result::Error> {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::pg::PgConnection::establish(url)
        .map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    // Whatever was announced while no listener ran is read now by every feed.
    hub.feeds.wake_all();
    let mut pinged = Instant::now();
    while alive() {
        if pinged.elapsed() >= LISTENER_PING {
            diesel::sql_query("SELECT 1").execute(&mut conn)?;
            pinged = Instant::now();
        }
        // Reads what the server sent meanwhile (libpq's socket never blocks here): no round
        // trip, so polling every 50 ms costs the database nothing.
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
