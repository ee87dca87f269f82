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

use crate::audit::checkpoint::{AuditSigner, TrustedKeys};
use crate::config::{AppEnv, Settings};
use crate::domain::Clock;
use crate::domain::clock::SystemClock;
use crate::state::{AppState, Secrets};
use crate::store::Db;
use crate::{api, telemetry};

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    jobs: crate::jobs::Jobs,
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
        let state = prepare(settings, clock).await?;
        Self::start(state).await
    }

    /// Binds the listener and starts the HTTP server and the background jobs over a state
    /// made by [`prepare`] (the demo seeds its data set in between).
    pub async fn start(state: web::Data<AppState>) -> anyhow::Result<Self> {
        let settings = state.settings.clone();
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!(
                    "cannot listen on {}:{}",
                    settings.server.host, settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let data = state.clone();
        let routes = telemetry::RouteMethods::new(api::ROUTES.iter().map(|r| (r.method, r.path)));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(routes.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    crate::error::AppError::bad_request("invalid_query", e.to_string()).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|_, _| {
                    crate::error::AppError::not_found("no such resource").into()
                }))
                .wrap(from_fn(telemetry::problem_errors))
                .wrap(from_fn(telemetry::trace_requests))
                .wrap(from_fn(api::headers::security_headers))
                .configure(api::routes)
                .default_service(web::to(api::not_found))
        })
        .listen(listener)?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.disable_signals().run();
        tracing::info!(port, env = settings.env.as_str(), backend = ?state.db.backend(), "listening");
        let weak = std::sync::Arc::downgrade(&state.clone().into_inner());
        crate::live::spawn_listener(
            &state.db,
            &settings.database.url,
            state.hub.clone(),
            move || weak.strong_count() > 0,
        );
        let jobs = crate::jobs::spawn(state.clone());
        Ok(Self {
            port,
            server,
            state,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until Ctrl-C / SIGTERM, then ends the live streams, stops taking requests, lets
    /// requests and mail sends in flight finish, and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            server,
            jobs,
            state,
            ..
        } = self;
        let handle = server.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down gracefully");
            let stopped = handle.stop(true);
            // Live streams end now (their clients reconnect to another instance) instead of
            // holding the shutdown until its timeout.
            state.hub.close_all();
            stopped.await;
        });
        let result = server.await;
        jobs.shutdown(std::time::Duration::from_secs(30)).await;
        result
    }

    /// Serves in the background; for tests. The jobs stop with the returned guard.
    pub fn spawn(self) -> RunningApp {
        let handle = self.server.handle();
        tokio::spawn(self.server);
        RunningApp {
            handle,
            jobs: Some(self.jobs),
        }
    }
}

/// A server running in the background with its jobs; dropping it stops both.
pub struct RunningApp {
    handle: actix_web::dev::ServerHandle,
    jobs: Option<crate::jobs::Jobs>,
}

impl RunningApp {
    /// Stops the background jobs the way a shutdown does: sends in flight finish first.
    pub async fn stop_jobs(&mut self, grace: std::time::Duration) {
        if let Some(jobs) = self.jobs.take() {
            jobs.shutdown(grace).await;
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if let Some(jobs) = &self.jobs {
            jobs.abort();
        }
        drop(self.handle.stop(false));
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

/// Connects and migrates the database, resolves the secrets and builds the shared state:
/// everything [`Application::start`] needs, before any request or job runs.
pub async fn prepare(
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<web::Data<AppState>> {
    let settings = Arc::new(settings);
    let db = {
        let s = settings.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Db> {
            let db = Db::connect(&s.database)?;
            let applied = db.ensure_schema_blocking(s.database.migrate_on_start)?;
            if !applied.is_empty() {
                tracing::info!(?applied, "database migrations applied");
            }
            let logged = crate::audit::log::catch_up(&db).map_err(|e| {
                anyhow::anyhow!("cannot bring the transparency log up to date: {e}")
            })?;
            if logged > 0 {
                tracing::info!(
                    logged,
                    "audit events written before the log was appended to it"
                );
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
    let (audit_signer, audit_keys) = audit_keys(&settings)?;
    let state = web::Data::new(AppState::new(
        settings.clone(),
        db,
        clock,
        Secrets {
            jwt_secret: &jwt_secret,
            pii_salt,
            audit_signer,
            audit_keys,
        },
    )?);
    crate::jobs::sandbox::refresh_clock(&state)
        .await
        .context("cannot read the sandbox clock")?;
    Ok(state)
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
        AppEnv::Test => Ok(crate::random::token().into_bytes()),
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
    let secret = crate::random::token();
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

/// The checkpoint signing key (configured, from a file, or made outside production) and the
/// public keys trusted to have signed earlier checkpoints.
pub fn audit_keys(settings: &Settings) -> anyhow::Result<(AuditSigner, TrustedKeys)> {
    let audit = &settings.audit;
    let configured = audit.signing_key.expose_secret();
    let signer = if !configured.is_empty() {
        AuditSigner::from_seed_text(configured)?
    } else if !audit.signing_key_file.is_empty() {
        let text = std::fs::read_to_string(&audit.signing_key_file).with_context(|| {
            format!(
                "cannot read audit.signing_key_file {}",
                audit.signing_key_file
            )
        })?;
        AuditSigner::from_seed_text(&text)?
    } else {
        match settings.env {
            AppEnv::Production => anyhow::bail!("production needs an audit signing key"),
            AppEnv::Test => AuditSigner::from_seed_text(&AuditSigner::generate_seed_text())?,
            AppEnv::Development => {
                let path = settings.data_dir().join("audit-signing.key");
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(_) => {
                        std::fs::create_dir_all(settings.data_dir())?;
                        let t = AuditSigner::generate_seed_text();
                        write_private(&path, &t)?;
                        tracing::warn!(file = %path.display(), "generated a development audit signing key");
                        t
                    }
                };
                AuditSigner::from_seed_text(&text)?
            }
        }
    };
    let signer = signer.with_origin(&audit.log_origin);
    let mut trusted = TrustedKeys::parse_list(&audit.previous_public_keys)?;
    trusted.push(signer.public_key());
    Ok((signer, TrustedKeys::new(trusted)))
}
