//! `asset-exchange demo`: seeds a realistic data set — organisations, staff, listings in every
//! state, a live auction — on a database of its own, then serves it like `serve` with
//! simulated bidders raising on the live auction, so a newcomer sees the exchange working.
//!
//! Everything is created through the exchange's use cases (`data` says what, `seed` does it
//! on an injected clock); `simulate` bids the way the HTTP handler does. The demo accounts
//! have published passwords, so the demo refuses to run in production.

pub mod data;
pub mod receiver;
pub mod seed;
pub mod simulate;

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;

pub use seed::{Seeded, seed};

use crate::config::{AppEnv, Settings};
use crate::domain::clock::OffsetClock;
use crate::domain::listing::ListingStatus;
use crate::startup::{Application, prepare};
use crate::state::AppState;
use crate::store::Backend;

/// The demo's own database, never the development one.
pub const DEFAULT_DATABASE: &str = "sqlite://data/demo.sqlite";
/// Where the demo's e-mails go (with the file transport), apart from development mail.
const DEMO_MAIL_DIR: &str = "data/demo-mail";
const DEFAULT_MAIL_DIR: &str = "data/mail";
/// The demo's log filter: simulated bids and requests, no debug lines over the guide.
pub const LOG_LEVEL: &str = "info";

/// The command line's choices.
#[derive(Debug, Clone)]
pub struct Options {
    pub database: String,
    /// Delete the SQLite database first.
    pub reset: bool,
    /// Seed and exit.
    pub seed_only: bool,
    /// Simulated bidders on the live auction.
    pub bidders: usize,
    /// Start a webhook receiver on this loopback port and register it.
    pub webhook_receiver: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            database: DEFAULT_DATABASE.into(),
            reset: false,
            seed_only: false,
            bidders: 4,
            webhook_receiver: None,
        }
    }
}

/// Seeds (unless already seeded), then serves with simulated bidders until stopped.
pub async fn run(settings: Settings, options: Options) -> anyhow::Result<()> {
    if options.reset {
        reset(&settings, &options.database)?;
    }
    let settings = demo_settings(settings, &options)?;
    let url = settings.database.url.clone();
    let clock = Arc::new(OffsetClock::default());
    let state = prepare(settings, clock.clone()).await?;
    let seeded = seed(&state, &clock).await?;
    if seeded.created {
        println!(
            "Seeded the demo data set into {url}: {} listings.",
            seeded.listings
        );
    } else {
        println!("The demo data set is already in {url}; serving it as it is.");
    }
    if options.seed_only {
        return Ok(());
    }
    let receiver = match options.webhook_receiver {
        Some(port) => Some(receiver_on(&state, port).await?),
        None => None,
    };
    let app = Application::start(state).await?;
    let state = app.state();
    let live = match seeded.live_listing_id {
        Some(id) if auction_open(&state, id).await => Some(id),
        _ => None,
    };
    println!(
        "{}",
        guide(
            &base_url(&state.settings, app.port()),
            seeded.live_listing_id,
            live.is_some()
        )
    );
    let simulation = match live {
        Some(id) => {
            let sim = simulate::Simulator::load(&state, id, options.bidders).await?;
            tracing::info!(
                listing_id = id,
                bidders = sim.bidders(),
                "simulated bidders start"
            );
            Some(simulate::spawn(state.clone(), sim))
        }
        None => None,
    };
    let served = app.run_until_stopped().await;
    if let Some(task) = simulation {
        task.abort();
    }
    if let Some(server) = receiver {
        server.stop(true).await;
    }
    Ok(served?)
}

/// Starts a webhook receiver on `port` and registers it for the supervision platform's
/// events (with a fresh secret each run); it prints each delivery as it arrives.
async fn receiver_on(
    state: &web::Data<AppState>,
    port: u16,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let secret = crate::random::token();
    let (url, server) = receiver::start(port, secret.clone())?;
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let input = crate::exchange::webhooks::NewWebhook {
        url: url.clone(),
        secret,
        events: ["listing.*", "bid.accepted", "deal.*", "alert.raised"]
            .map(String::from)
            .to_vec(),
    };
    let s = state.clone();
    let hook = state
        .db
        .tx(move |c| crate::exchange::webhooks::create_or_rotate_system(c, s.clock.now(), &input))
        .await?;
    println!(
        "Webhook receiver at {url} (webhook {}): deliveries are printed below as they arrive.",
        hook.id
    );
    Ok(handle)
}

/// Seeds `settings`' database with the data set (tests and scripts; `run` does the same).
pub async fn seed_database(settings: Settings) -> anyhow::Result<Seeded> {
    let clock = Arc::new(OffsetClock::default());
    let state = prepare(settings, clock.clone()).await?;
    seed(&state, &clock).await
}

/// The publisher name of `config/default.toml`, which the demo replaces with its own.
const GENERIC_PUBLISHER: &str = "国有资产交易平台";
/// The exchange the demo stands for (浙江产权交易所, the province's unified platform).
pub const DEMO_PUBLISHER: &str = "浙江产权交易所";

/// The settings the demo runs with: its own database and mail folder; never production.
pub fn demo_settings(mut settings: Settings, options: &Options) -> anyhow::Result<Settings> {
    anyhow::ensure!(
        settings.env != AppEnv::Production,
        "the demo's accounts have published passwords: it does not run with APP_ENV=production"
    );
    Backend::from_url(&options.database)?;
    settings.database.url = options.database.clone();
    if settings.mail.file_dir == DEFAULT_MAIL_DIR {
        settings.mail.file_dir = DEMO_MAIL_DIR.into();
    }
    // Visitors may walk the demo's deadlines forward (POST /api/v1/sandbox/clock as admin).
    settings.sandbox.adjustable_clock = true;
    // The demo is Zhejiang's provincial platform: its exchange publishes the open data.
    if settings.ocds.publisher_name == GENERIC_PUBLISHER {
        settings.ocds.publisher_name = DEMO_PUBLISHER.into();
    }
    Ok(settings)
}

/// Deletes the demo's SQLite database (and its WAL files). PostgreSQL is refused: drop and
/// create the database yourself. So is the configured (development) database.
fn reset(settings: &Settings, url: &str) -> anyhow::Result<()> {
    let (backend, path) = Backend::from_url(url)?;
    anyhow::ensure!(
        backend == Backend::Sqlite,
        "--reset only deletes the demo's SQLite file; for PostgreSQL drop and create the \
         database yourself (dropdb / createdb), then run the demo on it"
    );
    let configured = Backend::from_url(&settings.database.url).map(|(_, p)| PathBuf::from(p));
    anyhow::ensure!(
        configured.ok().as_deref() != Some(PathBuf::from(&path).as_path()),
        "--reset refuses to delete the configured database {}; the demo keeps its own",
        settings.database.url
    );
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = format!("{path}{suffix}");
        match std::fs::remove_file(&file) {
            Ok(()) => tracing::info!(file, "deleted"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot delete {file}: {e}"),
        }
    }
    Ok(())
}

/// Whether the live auction still takes bids (or will).
async fn auction_open(state: &web::Data<AppState>, listing_id: i64) -> bool {
    let now = state.clock.now();
    state
        .db
        .run(move |c| {
            let Some(listing) = crate::store::listings::find(c, listing_id)? else {
                return Ok(false);
            };
            let auction = crate::store::auctions::of_listing(c, listing_id, listing.round)?;
            let status = ListingStatus::parse(&listing.status);
            Ok(matches!(
                status,
                Some(ListingStatus::AuctionScheduled | ListingStatus::Bidding)
            ) && auction.is_some_and(|a| {
                a.closed_at.is_none()
                    && crate::exchange::auctions::times(&a).phase(now)
                        != crate::domain::auction::Phase::Closed
            }))
        })
        .await
        .unwrap_or(false)
}

fn base_url(settings: &Settings, port: u16) -> String {
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        h => h,
    };
    format!("http://{host}:{port}")
}

/// The guide printed at start: where to look and how to sign in.
pub fn guide(base: &str, live: Option<i64>, running: bool) -> String {
    use std::fmt::Write;
    let mut g = String::new();
    let _ = writeln!(g);
    let _ = writeln!(g, "asset-exchange demo — a seeded exchange at {base}");
    let _ = writeln!(
        g,
        "  Public board: {base}/  (open it in a browser; ?lang=en for English)"
    );
    let _ = writeln!(g, "  API docs:     {base}/api-docs");
    let _ = writeln!(
        g,
        "  Mail (files): {DEMO_MAIL_DIR}/ (unless configured elsewhere)"
    );
    let _ = writeln!(g);
    let _ = writeln!(
        g,
        "Demo accounts (published passwords: use them nowhere else)"
    );
    for s in data::STAFF {
        let _ = writeln!(
            g,
            "  {:<10} {:<44} {}",
            s.role.as_str(),
            s.email,
            s.password
        );
    }
    for (accounts, role, password) in [
        (&data::ENTERPRISES[..], "enterprise", data::SELLER_PASSWORD),
        (&data::BIDDERS[..], "bidder", data::BIDDER_PASSWORD),
    ] {
        for a in accounts {
            let _ = writeln!(
                g,
                "  {:<10} {:<44} {}  {}",
                role, a.email, password, a.organization
            );
        }
    }
    let _ = writeln!(g);
    match (live, running) {
        (Some(id), true) => {
            let _ = writeln!(
                g,
                "Live auction: listing {id} 「{}」 — simulated bidders raise every 2–8 s; \
                 the countdown restarts with each bid in it.",
                data::LIVE_TITLE
            );
            let _ = writeln!(g, "  Watch it live: {base}/listings/{id}");
        }
        (Some(id), false) => {
            let _ = writeln!(
                g,
                "The live auction (listing {id}) is over; `asset-exchange demo --reset` seeds a fresh one."
            );
        }
        (None, _) => {}
    }
    try_these(&mut g, base, live.unwrap_or(1));
    g
}

/// The guide's last part: a few commands to try.
fn try_these(g: &mut String, base: &str, id: i64) {
    use std::fmt::Write;
    let _ = writeln!(g, "Try:");
    let _ = writeln!(g, "  curl -s '{base}/api/v1/listings?per_page=20'");
    let _ = writeln!(g, "  curl -s {base}/api/v1/listings/{id}/auction");
    let _ = writeln!(g, "  curl -N {base}/api/v1/listings/{id}/auction/events");
    let _ = writeln!(
        g,
        "  TOKEN=$(curl -s -X POST {base}/api/v1/auth/login -H 'content-type: application/json' \\\n      \
         -d '{{\"email\":\"{}\",\"password\":\"{}\"}}' | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')",
        data::AUDITOR.email,
        data::AUDITOR.password
    );
    let _ = writeln!(
        g,
        "  curl -s '{base}/api/v1/audit/alerts?per_page=50' -H \"authorization: Bearer $TOKEN\""
    );
    let _ = writeln!(
        g,
        "  curl -s {base}/api/v1/audit/verify -H \"authorization: Bearer $TOKEN\""
    );
    let _ = writeln!(
        g,
        "  (as {} the summary and the alerts are 杭州's only: \
         curl -s {base}/api/v1/audit/summary -H \"authorization: Bearer $TOKEN\")",
        data::HANGZHOU_AUDITOR.email
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: AppEnv) -> Settings {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        Settings::load_from(&dir, env, Vec::new()).unwrap()
    }

    #[test]
    fn the_demo_uses_its_own_database_and_mail_folder() {
        let s = demo_settings(settings(AppEnv::Development), &Options::default()).unwrap();
        assert_eq!(s.database.url, DEFAULT_DATABASE);
        assert_eq!(s.mail.file_dir, DEMO_MAIL_DIR);
        assert_eq!(s.ocds.publisher_name, DEMO_PUBLISHER);
    }

    #[test]
    fn the_demo_refuses_production() {
        let mut s = settings(AppEnv::Development);
        s.env = AppEnv::Production;
        let e = demo_settings(s, &Options::default()).unwrap_err();
        assert!(e.to_string().contains("production"), "{e}");
    }

    #[test]
    fn reset_refuses_postgres_and_the_configured_database() {
        let s = settings(AppEnv::Development);
        assert!(reset(&s, "postgres://postgres@127.0.0.1/demo").is_err());
        let configured = s.database.url.clone();
        assert!(reset(&s, &configured).is_err());
    }

    #[test]
    fn the_guide_names_every_account_and_the_live_auction() {
        let g = guide("http://127.0.0.1:8080", Some(42), true);
        for s in data::STAFF {
            assert!(g.contains(s.email) && g.contains(s.password));
        }
        for a in data::ENTERPRISES.iter().chain(data::BIDDERS.iter()) {
            assert!(g.contains(a.email));
        }
        assert!(g.contains("http://127.0.0.1:8080/api-docs"));
        assert!(g.contains("curl -N http://127.0.0.1:8080/api/v1/listings/42/auction/events"));
        assert!(g.contains("/api/v1/audit/alerts"));
    }
}
