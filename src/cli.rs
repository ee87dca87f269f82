//! The command line: `serve` (default), `migrate`, `user create`.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::auth::accounts::{self, NewStaff};
use crate::auth::password::PasswordHasher;
use crate::config::Settings;
use crate::domain::clock::SystemClock;
use crate::domain::{Clock, Role};
use crate::startup::{Application, effective_secret};
use crate::store::Db;
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "asset-exchange",
    version,
    about = "Provincial state-owned asset exchange"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default); applies pending migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a staff account (operator, auditor or admin).
    Create {
        #[arg(long)]
        email: String,
        /// The password; prefer the ASSET_EXCHANGE_PASSWORD environment variable, which
        /// keeps it out of shell history and process lists.
        #[arg(long, env = "ASSET_EXCHANGE_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["operator", "auditor", "admin"])]
        role: String,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let applied = tokio::task::spawn_blocking(move || {
                let db = Db::connect(&settings.database)?;
                db.migrate_blocking()
            })
            .await??;
            println!("{} migration(s) applied", applied.len());
            for m in applied {
                println!("  {m}");
            }
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password,
                    name,
                    role,
                },
        } => {
            let id = tokio::task::spawn_blocking(move || {
                create_staff(&settings, &email, &password, &name, &role)
            })
            .await??;
            println!("created user {id}");
        }
    }
    Ok(())
}

fn create_staff(
    settings: &Settings,
    email: &str,
    password: &str,
    name: &str,
    role: &str,
) -> anyhow::Result<i64> {
    let role = Role::parse(role).context("role must be operator, auditor or admin")?;
    let (email, name) = accounts::validate_staff(&NewStaff {
        email,
        password,
        name,
        role,
    })
    .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    let db = Db::connect(&settings.database)?;
    db.migrate_blocking()?;
    let hash = PasswordHasher::new(&settings.auth)?.hash(password)?;
    let salt = effective_secret(
        settings,
        settings.audit.pii_salt.expose_secret(),
        "pii-dev.salt",
    )?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let user = db
        .tx_blocking(|c| accounts::create_staff(c, &email, &name, role, &hash, &salt, now))
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    Ok(user.id)
}

fn describe(e: &crate::error::AppError) -> String {
    let p = e.to_problem();
    let fields: Vec<String> = p
        .errors
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    if fields.is_empty() {
        format!("{} ({})", p.detail, p.code)
    } else {
        fields.join("; ")
    }
}
