//! Least privilege: the service runs as a PostgreSQL role that can neither change the schema
//! nor change or remove a row of history, while `asset-exchange migrate` runs as the owner;
//! and a service that may not migrate refuses to start on an old schema (both backends).

use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::json;

use crate::auctions::{bid, key, scheduled, wait_phase, wait_status};
use crate::helpers::{TestApp, next_id, spawn_app_on, test_settings, with_db};
use crate::listings::cast;
use asset_exchange::config::DatabaseSettings;
use asset_exchange::startup::Application;
use asset_exchange::store::Db;

fn settings(url: &str) -> DatabaseSettings {
    DatabaseSettings {
        url: url.to_string(),
        pool_size: 2,
        connect_timeout_seconds: 10,
        sqlite_busy_timeout_ms: 5000,
        migrate_on_start: true,
    }
}

/// `postgres://USER@HOST/DB?x` with another user and database.
fn as_user(base: &str, user: &str, db: &str) -> String {
    let (scheme, rest) = base.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    with_db(&format!("{scheme}://{user}@{host}"), db)
}

fn pg_base() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

/// A database owned by its own owner role, and the service's role; dropped at the end.
struct Roles {
    base: String,
    db: String,
    owner: String,
    app: String,
}

impl Roles {
    fn create(base: &str) -> Roles {
        let n = format!("{}_{}", std::process::id(), next_id());
        let r = Roles {
            base: base.to_string(),
            db: format!("ax_roles_{n}"),
            owner: format!("ax_owner_{n}"),
            app: format!("ax_app_{n}"),
        };
        let mut admin = PgConnection::establish(base).unwrap();
        for sql in [
            format!("CREATE ROLE {} LOGIN", r.owner),
            format!("CREATE ROLE {} LOGIN", r.app),
            format!("CREATE DATABASE {} OWNER {}", r.db, r.owner),
        ] {
            diesel::sql_query(sql).execute(&mut admin).unwrap();
        }
        r
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.base) {
            for sql in [
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db),
                format!("DROP ROLE IF EXISTS {}", self.app),
                format!("DROP ROLE IF EXISTS {}", self.owner),
            ] {
                let _ = diesel::sql_query(sql).execute(&mut admin);
            }
        }
    }
}

/// An auction from scheduling to the award, a checkpoint and a verification.
async fn a_day_at_the_exchange(app: &TestApp) {
    let c = cast(app).await;
    let (id, b) = scheduled(
        app,
        &c,
        2,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 2}),
    )
    .await;
    wait_phase(app, id, "free").await;
    assert_eq!(bid(app, id, &b[0], "10000000", &key()).await.status, 201);
    assert_eq!(bid(app, id, &b[1], "10050000", &key()).await.status, 201);
    assert_eq!(wait_status(app, id, "awarded").await["status"], "awarded");
    let (_, auditor) = app.staff("auditor").await;
    let cp = app
        .post("/api/v1/audit/checkpoints", Some(&auditor), &json!({}))
        .await;
    assert_eq!(cp.status, 201, "{}", String::from_utf8_lossy(&cp.body));
    let v = app.get("/api/v1/audit/verify", Some(&auditor)).await.json();
    assert_eq!(v["valid"], true, "{v}");
}

#[actix_web::test]
async fn the_service_role_cannot_change_the_schema_or_rewrite_history() {
    let Some(base) = pg_base() else {
        // SQLite has no roles: granting one is refused with a clear message.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let db = Db::connect(&settings(&url)).unwrap();
        let e = db.grant_app_role_blocking("app").unwrap_err().to_string();
        assert!(e.contains("needs PostgreSQL"), "{e}");
        return;
    };
    let roles = Roles::create(&base);
    // The release step: migrate as the owner, then grant the service's role.
    let owner = Db::connect(&settings(&as_user(&base, &roles.owner, &roles.db))).unwrap();
    assert!(!owner.migrate_blocking().unwrap().is_empty());
    owner.grant_app_role_blocking(&roles.app).unwrap();
    owner.grant_app_role_blocking(&roles.app).unwrap(); // idempotent
    assert!(
        owner
            .grant_app_role_blocking("app; DROP TABLE bids")
            .is_err()
    );
    drop(owner);

    let app_url = as_user(&base, &roles.app, &roles.db);
    let app = spawn_app_on(&app_url, |s| s.database.migrate_on_start = false).await;
    a_day_at_the_exchange(&app).await;

    let mut conn = PgConnection::establish(&app_url).unwrap();
    for (sql, why) in [
        (
            "UPDATE audit_events SET payload = '{}'",
            "permission denied",
        ),
        ("DELETE FROM audit_events", "permission denied"),
        ("TRUNCATE audit_events", "permission denied"),
        ("DELETE FROM audit_log_nodes", "permission denied"),
        (
            "UPDATE audit_log_checkpoints SET note = ''",
            "permission denied",
        ),
        ("DELETE FROM audit_checkpoints", "permission denied"),
        ("TRUNCATE bids", "permission denied"),
        (
            "ALTER TABLE audit_events DISABLE TRIGGER USER",
            "must be owner",
        ),
        ("DROP TABLE bids", "must be owner"),
        (
            "CREATE TABLE shadow (i int)",
            "permission denied for schema public",
        ),
        (
            "DELETE FROM __diesel_schema_migrations",
            "permission denied",
        ),
    ] {
        let e = diesel::sql_query(sql)
            .execute(&mut conn)
            .expect_err(sql)
            .to_string();
        assert!(e.contains(why), "{sql}: {e}");
    }
    // Business rows stay writable (the service needs that); history only grows.
    let n = diesel::sql_query("UPDATE listings SET title = title")
        .execute(&mut conn)
        .unwrap();
    assert!(n > 0);
    drop(app);
}

#[actix_web::test]
async fn a_service_that_may_not_migrate_refuses_an_old_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _roles) = match pg_base() {
        Some(base) => {
            let roles = Roles::create(&base);
            (as_user(&base, &roles.owner, &roles.db), Some(roles))
        }
        None => (
            format!("sqlite://{}", dir.path().join("old.db").display()),
            None,
        ),
    };
    let mut s = test_settings();
    s.database.url = url.clone();
    s.database.migrate_on_start = false;
    let clock = std::sync::Arc::new(asset_exchange::domain::clock::OffsetClock::default());
    let e = match Application::build_with_clock(s.clone(), clock.clone()).await {
        Ok(_) => panic!("started on an empty schema"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("migration(s) pending"), "{e}");
    assert!(e.contains("asset-exchange migrate"), "{e}");
    // Nothing was created: the migrations' bookkeeping is still missing.
    let db = Db::connect(&settings(&url)).unwrap();
    let pending = db.pending_migrations_blocking().unwrap();
    assert!(pending.len() > 10, "{pending:?}");
    // After `migrate` it starts.
    assert!(!db.migrate_blocking().unwrap().is_empty());
    assert!(db.pending_migrations_blocking().unwrap().is_empty());
    drop(db);
    let app = spawn_app_on(&url, |s| s.database.migrate_on_start = false).await;
    assert_eq!(app.get("/health/ready", None).await.status, 200);
}
