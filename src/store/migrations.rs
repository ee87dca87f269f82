//! The schema's version: applying the embedded migrations (as the schema's owner), checking
//! that a database is up to date without changing it (as the service's own role, which
//! cannot create anything), and granting that role what the service needs and no more.

use std::collections::HashSet;

use anyhow::Context;
use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::Db;
use crate::with_conn;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Instances starting together queue on this advisory lock instead of racing to migrate.
const MIGRATION_LOCK: i64 = 7_263_019_501;

/// Tables whose rows are history: the service's role may read and add rows but never
/// change or remove one (the triggers refuse it too; without these privileges it could not
/// even try, and, not owning them, it cannot disable the triggers).
pub const APPEND_ONLY_TABLES: [&str; 5] = [
    "audit_events",
    "audit_checkpoints",
    "audit_log_nodes",
    "audit_log_checkpoints",
    "audit_log_cosignatures",
];

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

impl Db {
    /// Applies pending embedded migrations (blocking; call at start-up or from the CLI).
    pub fn migrate_blocking(&self) -> anyhow::Result<Vec<String>> {
        let applied = match self {
            Db::Postgres(pool) => {
                let mut conn = pool.get().map_err(|e| anyhow::anyhow!("{e}"))?;
                // The lock is released below, or with the session if this fails.
                conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .context("cannot take the migration lock")?;
                let applied = conn
                    .run_pending_migrations(PG_MIGRATIONS)
                    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))
                    .map(|done| done.iter().map(ToString::to_string).collect());
                let unlocked =
                    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
                let applied: Vec<String> = applied?;
                unlocked.context("cannot release the migration lock")?;
                applied
            }
            Db::Sqlite(pool) => {
                let mut conn = pool.get().map_err(|e| anyhow::anyhow!("{e}"))?;
                conn.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            }
        };
        Ok(applied)
    }

    /// The embedded migrations this database has not applied, oldest first, read without
    /// creating or changing anything (diesel's harness would create its bookkeeping table,
    /// which needs CREATE on the schema).
    pub fn pending_migrations_blocking(&self) -> anyhow::Result<Vec<String>> {
        let (names, exists) = match self {
            Db::Postgres(_) => (
                names_of::<Pg>(&PG_MIGRATIONS)?,
                "SELECT 'x' AS version WHERE to_regclass('__diesel_schema_migrations') IS NOT NULL",
            ),
            Db::Sqlite(_) => (
                names_of::<Sqlite>(&SQLITE_MIGRATIONS)?,
                "SELECT name AS version FROM sqlite_master WHERE type = 'table' \
                 AND name = '__diesel_schema_migrations'",
            ),
        };
        let applied = self
            .run_blocking(|conn| {
                let found: Vec<Version> = with_conn!(conn, c => diesel::sql_query(exists).load(c))?;
                if found.is_empty() {
                    return Ok(Vec::new());
                }
                let rows: Vec<Version> = with_conn!(conn, c => diesel::sql_query(
                    "SELECT version FROM __diesel_schema_migrations"
                )
                .load(c))?;
                Ok(rows)
            })
            .map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))?;
        let applied: HashSet<String> = applied.into_iter().map(|v| v.version).collect();
        Ok(names
            .into_iter()
            .filter(|(version, _)| !applied.contains(version))
            .map(|(_, name)| name)
            .collect())
    }

    /// Brings the schema up to date (`migrate`), or, for a service that must not change the
    /// schema, checks that it is and refuses to go on otherwise.
    pub fn ensure_schema_blocking(&self, migrate: bool) -> anyhow::Result<Vec<String>> {
        if migrate {
            return self.migrate_blocking();
        }
        let pending = self.pending_migrations_blocking()?;
        if let Some(first) = pending.first() {
            anyhow::bail!(
                "the database schema is older than this release: {} migration(s) pending, \
                 the first {first}; run `asset-exchange migrate` with the schema owner's \
                 DATABASE_URL first (database.migrate_on_start is off)",
                pending.len()
            );
        }
        Ok(Vec::new())
    }

    /// Grants `role` what the service needs on PostgreSQL: read and write the business
    /// tables, add to the audit tables but never change or remove their rows, and nothing on
    /// the migrations' bookkeeping beyond reading it. Run by the schema's owner after
    /// migrating; idempotent. SQLite has no roles.
    pub fn grant_app_role_blocking(&self, role: &str) -> anyhow::Result<()> {
        let Db::Postgres(pool) = self else {
            anyhow::bail!("--app-role needs PostgreSQL: SQLite has no roles");
        };
        anyhow::ensure!(
            valid_role_name(role),
            "the role name must be lower-case letters, digits and underscores"
        );
        let mut conn = pool.get().map_err(|e| anyhow::anyhow!("{e}"))?;
        conn.batch_execute(&grant_statements(role))
            .with_context(|| format!("cannot grant the service's privileges to {role}"))
    }
}

fn names_of<DB: diesel::backend::Backend>(
    source: &EmbeddedMigrations,
) -> anyhow::Result<Vec<(String, String)>>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    let list = MigrationSource::<DB>::migrations(source)
        .map_err(|e| anyhow::anyhow!("cannot read the embedded migrations: {e}"))?;
    let mut names: Vec<(String, String)> = list
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect();
    names.sort();
    Ok(names)
}

/// A role name safe to splice into SQL unquoted.
pub fn valid_role_name(role: &str) -> bool {
    let mut chars = role.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && role.len() <= 63
}

fn grant_statements(role: &str) -> String {
    let history = APPEND_ONLY_TABLES.join(", ");
    format!(
        "GRANT USAGE ON SCHEMA public TO {role};
         REVOKE CREATE ON SCHEMA public FROM {role};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
         REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {role};
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
         REVOKE UPDATE, DELETE ON {history} FROM {role};
         REVOKE INSERT, UPDATE, DELETE ON __diesel_schema_migrations FROM {role};"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(valid_role_name("asset_exchange_app"));
        assert!(valid_role_name("_app2"));
        for bad in [
            "",
            "App",
            "2app",
            "app;drop",
            "a b",
            "a\"b",
            &"a".repeat(64),
        ] {
            assert!(!valid_role_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn history_tables_lose_update_and_delete() {
        let sql = grant_statements("app");
        assert!(sql.contains(
            "REVOKE UPDATE, DELETE ON audit_events, audit_checkpoints, audit_log_nodes, \
             audit_log_checkpoints, audit_log_cosignatures FROM app"
        ));
    }
}
