//! The command line: `serve` (default), `migrate`, `user create`, `audit`, `witness`, `demo`.

mod prove;
pub mod witness;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::audit::checkpoint::TrustedKeys;
use crate::auth::accounts::{self, NewStaff};
use crate::auth::password::PasswordHasher;
use crate::config::Settings;
use crate::domain::clock::SystemClock;
use crate::domain::{Clock, Role};
use crate::startup::{Application, audit_keys, effective_secret};
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
    /// Run the HTTP service (the default); applies pending migrations first, or with
    /// `database.migrate_on_start = false` (production) refuses to start on an old schema.
    Serve,
    /// Apply pending database migrations and exit (run as the schema's owner).
    Migrate(MigrateArgs),
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Check and sign the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Witness a log: poll its public checkpoint, check it extends the last one cosigned
    /// (kept on disk), cosign it; refuse a rolled-back or forked log loudly (exit status 2).
    Witness(witness::WitnessArgs),
    /// Seed a demonstration data set on a database of its own and serve it, with simulated
    /// bidders on a live auction. Prints a guide with the demo accounts (their passwords are
    /// published: refused with APP_ENV=production). Logs at `info` unless RUST_LOG says
    /// otherwise.
    Demo(DemoArgs),
    /// Listen for webhook deliveries on 127.0.0.1 and print each one: its event, id and
    /// whether its signature verifies with --secret (see docs/webhooks.md).
    WebhookReceiver(ReceiverArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReceiverArgs {
    /// The loopback port to listen on.
    #[arg(long, default_value_t = 8091)]
    pub port: u16,
    /// The secret the webhook was registered with.
    #[arg(long, env = "WEBHOOK_SECRET")]
    pub secret: String,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// PostgreSQL: then grant this role what the service needs and no more (read and write
    /// business tables, only add to the audit tables, create nothing). Idempotent.
    #[arg(long)]
    pub app_role: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The demo's database (DATABASE_URL is not used: the demo never touches the
    /// development database). PostgreSQL works too.
    #[arg(long, default_value = crate::demo::DEFAULT_DATABASE)]
    pub database: String,
    /// Delete the demo's SQLite database first, for a fresh data set and live auction
    /// (refused for PostgreSQL: drop and create that database yourself).
    #[arg(long)]
    pub reset: bool,
    /// Seed (if not seeded yet) and exit without serving.
    #[arg(long)]
    pub seed_only: bool,
    /// How many of the live auction's four eligible bidders are simulated.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub bidders: u8,
    /// Start a webhook receiver on this loopback port, register it for the supervision
    /// platform's events, and print every delivery it gets.
    #[arg(long, value_name = "PORT")]
    pub webhook_receiver: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every chain and checkpoint, in the database or (with --file) in an export.
    /// Prints the report as JSON; exits with status 1 when the trail is not valid.
    Verify {
        /// A JSONL export to verify offline, with no database.
        #[arg(long, requires = "public_key")]
        file: Option<std::path::PathBuf>,
        /// Base64 Ed25519 public key(s) trusted to sign checkpoints, comma separated
        /// (from GET /api/v1/audit/public-key).
        #[arg(long)]
        public_key: Option<String>,
        /// A log checkpoint (signed note) saved earlier: the log must still extend it.
        #[arg(long, conflicts_with = "file")]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Sign a checkpoint of the current stream heads now.
    Checkpoint,
    /// Print and check an inclusion proof (--event) or a consistency proof (--from, --to).
    Prove {
        /// The audit event to prove included.
        #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present = "to")]
        event: Option<i64>,
        /// The tree size to prove the event in (default: the newest checkpoint's).
        #[arg(long, requires = "event")]
        tree_size: Option<u64>,
        /// The older tree size of a consistency proof.
        #[arg(long, requires = "to")]
        from: Option<u64>,
        /// The newer tree size of a consistency proof.
        #[arg(long, requires = "from")]
        to: Option<u64>,
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
        /// For an auditor: the id of the supervising body it belongs to (it then sees only
        /// that body's enterprises and those below; without it, the whole province).
        #[arg(long)]
        supervisory_body: Option<i64>,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Offline verification needs no configuration or database at all.
    if let Some(Command::Audit {
        command:
            AuditCommand::Verify {
                file: Some(file),
                public_key,
                ..
            },
    }) = &cli.command
    {
        return verify_file(file, public_key.as_deref().unwrap_or_default());
    }
    // A witness needs no configuration of the exchange either.
    let command = match cli.command {
        Some(Command::Witness(args)) => return witness::run(args).await,
        Some(Command::WebhookReceiver(args)) => {
            let (url, server) = crate::demo::receiver::start(args.port, args.secret)?;
            println!("Receiving webhooks at {url}; Ctrl-C stops.");
            return Ok(server.await?);
        }
        other => other,
    };
    let mut settings = Settings::load()?;
    if matches!(command, Some(Command::Demo(_))) {
        // The guide stays readable: no debug lines (RUST_LOG still decides if set).
        settings.log.level = crate::demo::LOG_LEVEL.into();
    }
    telemetry::init(&settings.log);
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Migrate(args) => migrate_command(settings, args).await?,
        Command::Audit { command } => return audit_command(settings, command).await,
        Command::Witness(_) | Command::WebhookReceiver(_) => {}
        Command::Demo(args) => {
            let options = crate::demo::Options {
                database: args.database,
                reset: args.reset,
                seed_only: args.seed_only,
                bidders: usize::from(args.bidders),
                webhook_receiver: args.webhook_receiver,
            };
            return crate::demo::run(settings, options).await;
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password,
                    name,
                    role,
                    supervisory_body,
                },
        } => {
            let id = tokio::task::spawn_blocking(move || {
                let staff = NewStaffArgs {
                    email: &email,
                    password: &password,
                    name: &name,
                    role: &role,
                    body: supervisory_body,
                };
                create_staff(&settings, &staff)
            })
            .await??;
            println!("created user {id}");
        }
    }
    Ok(())
}

struct NewStaffArgs<'a> {
    email: &'a str,
    password: &'a str,
    name: &'a str,
    role: &'a str,
    body: Option<i64>,
}

/// `migrate`: applies the migrations, logs events written before the log, and with
/// `--app-role` grants the service's role its privileges.
async fn migrate_command(settings: Settings, args: MigrateArgs) -> anyhow::Result<()> {
    let role = args.app_role.clone();
    let applied = tokio::task::spawn_blocking(move || {
        let db = Db::connect(&settings.database)?;
        let applied = db.migrate_blocking()?;
        crate::audit::log::catch_up(&db).map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
        if let Some(role) = &role {
            db.grant_app_role_blocking(role)?;
        }
        anyhow::Ok(applied)
    })
    .await??;
    println!("{} migration(s) applied", applied.len());
    for m in applied {
        println!("  {m}");
    }
    if let Some(role) = args.app_role {
        println!("privileges of the service granted to {role}");
    }
    Ok(())
}

fn create_staff(settings: &Settings, args: &NewStaffArgs) -> anyhow::Result<i64> {
    let NewStaffArgs {
        email,
        password,
        name,
        role,
        body,
    } = *args;
    let role = Role::parse(role).context("role must be operator, auditor or admin")?;
    if body.is_some() && role != Role::Auditor {
        anyhow::bail!("--supervisory-body is for auditors only");
    }
    let (email, name) = accounts::validate_staff(&NewStaff {
        email,
        password,
        name,
        role,
    })
    .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    let db = Db::connect(&settings.database)?;
    db.ensure_schema_blocking(settings.database.migrate_on_start)?;
    let hash = PasswordHasher::new(&settings.auth)?.hash(password)?;
    let salt = effective_secret(
        settings,
        settings.audit.pii_salt.expose_secret(),
        "pii-dev.salt",
    )?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let user = db
        .tx_blocking(|c| {
            let user = accounts::create_staff(c, &email, &name, role, &hash, &salt, now)?;
            if let Some(b) = body {
                accounts::attach_staff_to_body(c, user.id, b, now)?;
            }
            Ok(user)
        })
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

fn print_report(report: &crate::audit::verify::Report) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    if report.valid {
        Ok(())
    } else {
        std::process::exit(1)
    }
}

fn verify_file(file: &std::path::Path, public_key: &str) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let keys = TrustedKeys::new(TrustedKeys::parse_list(public_key)?);
    match crate::audit::export::verify_jsonl(&text, keys) {
        Ok(report) => print_report(&report),
        Err(why) => {
            eprintln!("not a valid export: {why}");
            std::process::exit(1)
        }
    }
}

async fn audit_command(settings: Settings, command: AuditCommand) -> anyhow::Result<()> {
    let (signer, keys) = audit_keys(&settings)?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let db = Db::connect(&settings.database)?;
        db.ensure_schema_blocking(settings.database.migrate_on_start)?;
        crate::audit::log::catch_up(&db).map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
        match command {
            AuditCommand::Verify { checkpoint, .. } => {
                let saved = checkpoint
                    .map(|path| prove::saved_checkpoint(&path, &keys))
                    .transpose()?;
                let report = crate::audit::verify_db_against(&db, keys, saved.as_slice())
                    .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
                print_report(&report)
            }
            AuditCommand::Prove {
                event,
                tree_size,
                from,
                to,
            } => {
                let what = match (event, from, to) {
                    (Some(id), _, _) => prove::Prove::Event {
                        id,
                        size: tree_size,
                    },
                    (None, Some(from), Some(to)) => prove::Prove::Consistency { from, to },
                    _ => anyhow::bail!("give --event, or --from and --to"),
                };
                prove::prove(&db, what)
            }
            AuditCommand::Checkpoint => {
                let cp = crate::audit::checkpoint_now(&db, &signer, SystemClock.now(), true)
                    .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?
                    .context("no checkpoint created")?;
                println!(
                    "checkpoint {} signed: {} streams, {} events, root {}",
                    cp.id, cp.streams, cp.events, cp.root
                );
                Ok(())
            }
        }
    })
    .await?
}
