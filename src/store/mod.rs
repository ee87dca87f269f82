//! Persistence: one diesel code base over SQLite (embedded default) and PostgreSQL.
//!
//! We keep two typed pools and pass an enum of borrowed connections ([`Conn`]) to query
//! functions. The [`with_conn!`] macro expands a query body once per backend, so each query
//! is type-checked against both while keeping diesel's full feature set (RETURNING, ON
//! CONFLICT, and row locks where PostgreSQL has them). Every call runs on the blocking thread
//! pool via [`Db::run`] / [`Db::tx`], never on an actix worker thread.

pub mod alerts;
pub mod auctions;
pub mod audit;
pub mod audit_log;
pub mod bodies;
pub mod browse;
pub mod deals;
pub mod listings;
pub mod metrics;
pub mod mfa;
pub mod migrations;
pub mod models;
pub mod notices;
pub mod notifications;
pub mod ocds;
pub mod password_resets;
pub mod pool;
pub mod reconcile;
pub mod registrations;
pub mod reminders;
pub mod report;
pub mod risk;
pub mod sandbox;
pub mod schema;
pub mod sealed;
pub mod sessions;
pub mod stored_time;
pub mod users;
pub mod verifications;
pub mod webhooks;

use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};

use crate::config::DatabaseSettings;
use crate::error::AppError;

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// Picks the backend from the URL scheme, and returns what the driver wants as URL.
    pub fn from_url(url: &str) -> anyhow::Result<(Self, String)> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok((Self::Postgres, url.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Ok((Self::Sqlite, path.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            Ok((Self::Sqlite, path.to_string()))
        } else {
            anyhow::bail!("database URL must start with sqlite:// or postgres://")
        }
    }
}

type PgPool = pool::Pooled<PgConnection>;
type SqlitePool = pool::Pooled<SqliteConnection>;

/// The connection pool, for whichever backend the configuration chose.
#[derive(Clone)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A borrowed connection of either backend; query functions take `&mut Conn`.
pub enum Conn<'a> {
    Pg(&'a mut PgConnection),
    Sqlite(&'a mut SqliteConnection),
}

/// Expands `$body` once per backend with `$c` bound to the concrete connection.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::Conn::Pg(inner) => {
                let $c: &mut ::diesel::pg::PgConnection = &mut **inner;
                $body
            }
            $crate::store::Conn::Sqlite(inner) => {
                let $c: &mut ::diesel::sqlite::SqliteConnection = &mut **inner;
                $body
            }
        }
    };
}

/// What another connection needs to read the snapshot of an open read transaction
/// ([`Db::beside_snapshot_blocking`]): PostgreSQL's exported snapshot id.
#[derive(Debug, Clone)]
pub struct SharedSnapshot(Option<String>);

/// Shares the snapshot of the read transaction `conn` is in (see
/// [`Db::snapshot_blocking`]); it can be joined while that transaction stays open.
pub fn share_snapshot(conn: &mut Conn) -> Result<SharedSnapshot, AppError> {
    #[derive(diesel::QueryableByName)]
    struct Exported {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    match conn {
        Conn::Pg(c) => {
            let Exported { id } =
                diesel::sql_query("SELECT pg_export_snapshot() AS id").get_result(*c)?;
            // The id is inlined in SET TRANSACTION SNAPSHOT (it takes no parameter).
            if id.is_empty() || !id.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-') {
                return Err(AppError::internal(anyhow::anyhow!(
                    "unexpected snapshot id {id:?}"
                )));
            }
            Ok(SharedSnapshot(Some(id)))
        }
        Conn::Sqlite(_) => Ok(SharedSnapshot(None)),
    }
}

/// Sets the pragmas every SQLite connection needs.
#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u32,
}

impl pool::Setup<SqliteConnection> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -32000; PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Db {
    /// Opens the pool for the configured URL. SQLite files (and their folder) are created.
    pub fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let (backend, url) = Backend::from_url(&settings.url)?;
        let timeout = Duration::from_secs(settings.connect_timeout_seconds.max(1));
        match backend {
            Backend::Postgres => {
                let pool = pool::Pooled::build(url, settings.pool_size.max(1), timeout, true, None)
                    .context("cannot connect to PostgreSQL")?;
                Ok(Db::Postgres(pool))
            }
            Backend::Sqlite => {
                if let Some(parent) = std::path::Path::new(&url).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!("cannot create the database folder {}", parent.display())
                    })?;
                }
                let pragmas = SqlitePragmas {
                    busy_timeout_ms: settings.sqlite_busy_timeout_ms,
                };
                let pool = pool::Pooled::build(
                    url,
                    settings.pool_size.max(1),
                    timeout,
                    false,
                    Some(Box::new(pragmas)),
                )
                .context("cannot open the SQLite database")?;
                Ok(Db::Sqlite(pool))
            }
        }
    }

    /// (open connections, idle connections, maximum size) of the pool.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        match self {
            Db::Postgres(p) => p.state(),
            Db::Sqlite(p) => p.state(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Runs `f` with a pooled connection on the blocking pool (no transaction).
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.run_blocking(f))
            .await
            .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }

    /// Runs `f` inside one write transaction on the blocking pool. SQLite starts it with
    /// `BEGIN IMMEDIATE` so writers queue on the lock instead of failing on upgrade.
    /// Any error rolls everything back.
    pub async fn tx<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.tx_blocking(f))
            .await
            .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }

    /// [`Db::run`] for code already on a blocking thread (CLI, jobs).
    pub fn run_blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError>,
    {
        match self {
            Db::Postgres(pool) => pool.with(|c| f(&mut Conn::Pg(c))),
            Db::Sqlite(pool) => pool.with(|c| f(&mut Conn::Sqlite(c))),
        }
    }

    /// [`Db::tx`] for code already on a blocking thread (CLI, jobs).
    pub fn tx_blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError>,
    {
        match self {
            Db::Postgres(pool) => pool.with(|conn| conn.transaction(|c| f(&mut Conn::Pg(c)))),
            Db::Sqlite(pool) => {
                pool.with(|conn| conn.immediate_transaction(|c| f(&mut Conn::Sqlite(c))))
            }
        }
    }

    /// Runs `f` in one read-only transaction that sees one snapshot of the database
    /// (blocking): several reads that must agree with each other. SQLite's deferred
    /// transaction takes no write lock; PostgreSQL's is `REPEATABLE READ, READ ONLY`.
    pub fn snapshot_blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError>,
    {
        match self {
            Db::Postgres(pool) => pool.with(|conn| {
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(|c| f(&mut Conn::Pg(c)))
            }),
            Db::Sqlite(pool) => pool.with(|conn| conn.transaction(|c| f(&mut Conn::Sqlite(c)))),
        }
    }

    /// Runs `f` beside a snapshot that another connection holds open ([`share_snapshot`]),
    /// in a read-only transaction on a connection that is idle in the pool right now
    /// (blocking); `None`, and `f` not run, when there is none. On PostgreSQL the
    /// transaction imports the snapshot and sees exactly what its exporter sees. SQLite
    /// cannot share one: its transaction sees the database as of its own first read, which
    /// holds everything the exporter saw and perhaps rows committed since, so the caller
    /// bounds its reads by what the exporter saw.
    pub fn beside_snapshot_blocking<T, F>(
        &self,
        snapshot: &SharedSnapshot,
        f: F,
    ) -> Option<Result<T, AppError>>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError>,
    {
        match (self, &snapshot.0) {
            (Db::Postgres(pool), Some(id)) => pool.try_with(|conn| {
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(|c| {
                        c.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{id}'"))?;
                        f(&mut Conn::Pg(c))
                    })
            }),
            (Db::Postgres(_), None) => Some(Err(AppError::internal(anyhow::anyhow!(
                "a PostgreSQL snapshot is shared by its id"
            )))),
            (Db::Sqlite(pool), _) => {
                pool.try_with(|conn| conn.transaction(|c| f(&mut Conn::Sqlite(c))))
            }
        }
    }

    /// Answers whether the database responds to a trivial query right now.
    pub async fn ping(&self) -> bool {
        self.run(|conn| {
            with_conn!(conn, c => diesel::sql_query("SELECT 1").execute(c))?;
            Ok(())
        })
        .await
        .is_ok()
    }
}
