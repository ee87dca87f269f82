//! The connection pool without a test query on every checkout.
//!
//! r2d2 would run `SELECT 1` each time a connection leaves the pool (`test_on_check_out`),
//! which on a busy bid path costs more round trips than the bid itself. Instead a connection
//! is trusted until a statement on it fails for want of the database: that connection is then
//! dropped when it goes back, and every other connection that was idle meanwhile proves itself
//! once (one ping) before it is handed out again. So a restarted database costs one failed
//! request and one ping per pooled connection, and a healthy one costs nothing.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, Error, ManageConnection, Pool, PooledConnection,
    R2D2Connection,
};

use crate::error::AppError;

/// A pooled connection with what the pool knows of its health.
pub struct Tracked<C> {
    conn: C,
    /// The pool's failure count when this connection last proved alive.
    proven_at: u64,
    /// A statement on it failed for want of the database: drop it, do not reuse it.
    broken: bool,
}

impl<C> Deref for Tracked<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C> DerefMut for Tracked<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn
    }
}

/// Opens connections for the pool and tells it which ones to drop.
pub struct Manager<C: R2D2Connection + 'static> {
    inner: ConnectionManager<C>,
    failures: Arc<AtomicU64>,
}

impl<C: R2D2Connection + Send + 'static> ManageConnection for Manager<C> {
    type Connection = Tracked<C>;
    type Error = Error;

    fn connect(&self) -> Result<Tracked<C>, Error> {
        let conn = self.inner.connect()?;
        Ok(Tracked {
            conn,
            proven_at: self.failures.load(Ordering::Acquire),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Tracked<C>) -> Result<(), Error> {
        self.inner.is_valid(&mut conn.conn)
    }

    fn has_broken(&self, conn: &mut Tracked<C>) -> bool {
        conn.broken || self.inner.has_broken(&mut conn.conn)
    }
}

/// Runs on every new connection (SQLite's pragmas).
pub trait Setup<C>: Send + Sync + std::fmt::Debug + 'static {
    fn on_acquire(&self, conn: &mut C) -> Result<(), Error>;
}

struct Customizer<C>(Box<dyn Setup<C>>);

impl<C> std::fmt::Debug for Customizer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<C: Send + 'static> CustomizeConnection<Tracked<C>, Error> for Customizer<C> {
    fn on_acquire(&self, conn: &mut Tracked<C>) -> Result<(), Error> {
        self.0.on_acquire(&mut conn.conn)
    }
}

/// A pool of one backend's connections.
pub struct Pooled<C: R2D2Connection + 'static> {
    pool: Pool<Manager<C>>,
    /// Connection failures seen so far (see the module's comment).
    failures: Arc<AtomicU64>,
    /// Whether a failed statement can mean a dead connection (PostgreSQL over a socket; an
    /// SQLite "database is locked" says nothing about the connection).
    detect: bool,
}

impl<C: R2D2Connection + 'static> Clone for Pooled<C> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            failures: self.failures.clone(),
            detect: self.detect,
        }
    }
}

impl<C: R2D2Connection + Send + 'static> Pooled<C> {
    /// A pool of `size` connections to `url`, each set up by `setup` if given.
    pub fn build(
        url: String,
        size: u32,
        timeout: Duration,
        detect: bool,
        setup: Option<Box<dyn Setup<C>>>,
    ) -> Result<Self, diesel::r2d2::PoolError> {
        let failures = Arc::new(AtomicU64::new(0));
        let manager = Manager {
            inner: ConnectionManager::new(url),
            failures: failures.clone(),
        };
        let mut builder = Pool::builder()
            .max_size(size)
            .connection_timeout(timeout)
            .test_on_check_out(false);
        if let Some(setup) = setup {
            builder = builder.connection_customizer(Box::new(Customizer(setup)));
        }
        Ok(Self {
            pool: builder.build(manager)?,
            failures,
            detect,
        })
    }

    /// (open connections, idle connections, maximum size).
    pub fn state(&self) -> (u32, u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections, self.pool.max_size())
    }

    /// A connection from the pool; one that was idle while another failed pings first, and
    /// is dropped if it does not answer.
    pub fn get(&self) -> Result<PooledConnection<Manager<C>>, AppError> {
        self.proven(|| Ok(Some(self.pool.get()?)))?
            .ok_or_else(|| AppError::Unavailable("no database connection answers".to_string()))
    }

    /// A connection that is idle in the pool right now, proven as [`Self::get`] proves it;
    /// `None` rather than waiting for one.
    pub fn try_get(&self) -> Option<PooledConnection<Manager<C>>> {
        self.proven(|| Ok(self.pool.try_get())).ok().flatten()
    }

    /// The first connection `fetch` hands out that proves alive (at most one per pooled
    /// connection is tried); `None` when `fetch` has none or none answers.
    fn proven(
        &self,
        mut fetch: impl FnMut() -> Result<Option<PooledConnection<Manager<C>>>, AppError>,
    ) -> Result<Option<PooledConnection<Manager<C>>>, AppError> {
        for _ in 0..=self.pool.max_size() {
            let Some(mut conn) = fetch()? else {
                return Ok(None);
            };
            let failures = self.failures.load(Ordering::Acquire);
            if conn.proven_at == failures {
                return Ok(Some(conn));
            }
            if conn.conn.ping().is_ok() {
                conn.proven_at = failures;
                return Ok(Some(conn));
            }
            conn.broken = true;
        }
        Ok(None)
    }

    /// Runs `f` on a connection; if it fails for want of the database, the connection is
    /// dropped and the others are made to prove themselves.
    pub fn with<T>(&self, f: impl FnOnce(&mut C) -> Result<T, AppError>) -> Result<T, AppError> {
        let conn = self.get()?;
        self.run_on(conn, f)
    }

    /// [`Self::with`] on a connection that is idle right now; `None` (and `f` not run) if
    /// there is none.
    pub fn try_with<T>(
        &self,
        f: impl FnOnce(&mut C) -> Result<T, AppError>,
    ) -> Option<Result<T, AppError>> {
        let conn = self.try_get()?;
        Some(self.run_on(conn, f))
    }

    fn run_on<T>(
        &self,
        mut conn: PooledConnection<Manager<C>>,
        f: impl FnOnce(&mut C) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let result = f(&mut conn.conn);
        if self.detect && matches!(result, Err(AppError::Unavailable(_))) {
            conn.broken = true;
            self.failures.fetch_add(1, Ordering::AcqRel);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sqlite::SqliteConnection;
    use diesel::{QueryableByName, RunQueryDsl, sql_query};

    use super::*;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// Whether this connection holds the temporary table `marker` (temporary tables belong
    /// to one connection, so this tells connections apart).
    fn marked(c: &mut SqliteConnection) -> bool {
        let q = "SELECT count(*) AS n FROM sqlite_temp_master WHERE name = 'marker'";
        sql_query(q)
            .get_result::<Count>(c)
            .map(|r| r.n)
            .unwrap_or(0)
            == 1
    }

    fn pool(dir: &tempfile::TempDir, size: u32, detect: bool) -> Pooled<SqliteConnection> {
        let url = dir.path().join("pool.db").display().to_string();
        Pooled::build(url, size, Duration::from_secs(5), detect, None).unwrap()
    }

    #[test]
    fn a_connection_is_reused_without_a_test_until_a_statement_on_it_fails_for_want_of_the_database()
     {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir, 1, true);
        pool.with(|c| Ok(c.batch_execute("CREATE TEMP TABLE marker (x)")?))
            .unwrap();
        assert!(pool.with(|c| Ok(marked(c))).unwrap(), "the same connection");
        // Any other failure keeps the connection.
        let refused: Result<(), AppError> = pool.with(|_| Err(AppError::not_found("x")));
        assert!(refused.is_err());
        assert!(
            pool.with(|c| Ok(marked(c))).unwrap(),
            "still the same connection"
        );
        // A lost database drops it: the next one is a new connection.
        let lost: Result<(), AppError> =
            pool.with(|_| Err(AppError::Unavailable("server closed the connection".into())));
        assert!(lost.is_err());
        assert!(!pool.with(|c| Ok(marked(c))).unwrap(), "a new connection");
    }

    #[test]
    fn after_a_failure_the_other_connections_prove_themselves_once() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir, 2, true);
        let (mut a, b) = (pool.get().unwrap(), pool.get().unwrap());
        a.broken = true;
        pool.failures.fetch_add(1, Ordering::AcqRel);
        drop((a, b));
        let c = pool.get().unwrap();
        assert_eq!(c.proven_at, 1, "pinged and marked as proven");
        assert!(!c.broken);
    }

    #[test]
    fn sqlite_errors_never_drop_a_connection_when_detection_is_off() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir, 1, false);
        pool.with(|c| Ok(c.batch_execute("CREATE TEMP TABLE marker (x)")?))
            .unwrap();
        let locked: Result<(), AppError> =
            pool.with(|_| Err(AppError::Unavailable("database is locked".into())));
        assert!(locked.is_err());
        assert!(pool.with(|c| Ok(marked(c))).unwrap(), "the same connection");
    }
}
