//! Wiring: builds the state from settings, binds the listener and runs the HTTP server.
//! Tests boot exactly this, on port 0.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::ExposeSecret;

use crate::config::{AppEnv, Settings};
use crate::domain::Clock;
use crate::domain::clock::SystemClock;
use crate::state::AppState;
use crate::store::Db;
use crate::{api, telemetry};

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Connects and migrates the database, binds the listener and starts serving.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let db = {
            let s = settings.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<Db> {
                let db = Db::connect(&s.database)?;
                let applied = db.migrate_blocking()?;
                if !applied.is_empty() {
                    tracing::info!(?applied, "database migrations applied");
                }
                Ok(db)
            })
            .await
            .context("start-up task failed")??
        };
        let jwt_secret = effective_secret(
            &settings,
            settings.auth.jwt_secret.expose_secret(),
            "jwt-dev.key",
        )?;
        let pii_salt = effective_secret(
            &settings,
            settings.audit.pii_salt.expose_secret(),
            "pii-dev.salt",
        )?;
        let state = web::Data::new(AppState::new(
            settings.clone(),
            db,
            clock,
            &jwt_secret,
            pii_salt,
        )?);

        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!(
                    "cannot listen on {}:{}",
                    settings.server.host, settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let data = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(from_fn(telemetry::problem_errors))
                .wrap(from_fn(telemetry::trace_requests))
                .configure(api::routes)
                .default_service(web::to(api::not_found))
        })
        .listen(listener)?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.disable_signals().run();
        tracing::info!(port, env = settings.env.as_str(), backend = ?state.db.backend(), "listening");
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until the server stops (Ctrl-C / SIGTERM in the binary).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down gracefully");
            handle.stop(true).await;
        });
        self.server.await
    }

    /// Serves in the background; for tests.
    pub fn spawn(self) -> actix_web::dev::ServerHandle {
        let handle = self.server.handle();
        tokio::spawn(self.server);
        handle
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The configured secret, or outside production one made for this machine: random bytes
/// kept under `./data` (development) or in memory only (test).
pub fn effective_secret(
    settings: &Settings,
    configured: &str,
    file: &str,
) -> anyhow::Result<Vec<u8>> {
    if !configured.is_empty() {
        return Ok(configured.as_bytes().to_vec());
    }
    match settings.env {
        AppEnv::Production => anyhow::bail!("production needs every secret configured"),
        AppEnv::Test => Ok(crate::auth::tokens::random_token().into_bytes()),
        AppEnv::Development => load_or_create(&settings.data_dir().join(file)),
    }
}

fn load_or_create(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let trimmed = existing.trim();
        if trimmed.len() >= 32 {
            return Ok(trimmed.as_bytes().to_vec());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let secret = crate::auth::tokens::random_token();
    write_private(path, &secret)?;
    tracing::warn!(file = %path.display(), "generated a development secret; set it in the environment for production");
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}
