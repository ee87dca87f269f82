//! `spawn_app()` boots the real application on port 0 with its own database: a fresh SQLite
//! file, or, when `TEST_DATABASE_URL` names a PostgreSQL server, a database cloned from a
//! migrated template. `TestApp` has typed helpers for requests and for looking inside.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::web;
use asset_exchange::config::{AppEnv, Settings};
use asset_exchange::domain::clock::OffsetClock;
use asset_exchange::startup::{Application, RunningApp};
use asset_exchange::state::AppState;
use asset_exchange::store::Db;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};

/// The HMAC key tests sign with, so they can forge tokens on purpose.
pub const JWT_SECRET: &str = "integration-tests-only-0123456789abcdef";
pub const PASSWORD: &str = "Sturdy-Passphrase-42";
/// The audit signing key of test apps (base64 seed), so the CLI can verify their trail.
pub const AUDIT_SIGNING_KEY: &str = "dGVzdC1hdWRpdC1zaWduaW5nLWtleS0zMi1ieXRlcyE=";

pub struct TestApp {
    pub address: String,
    pub client: awc::Client,
    pub clock: Arc<OffsetClock>,
    pub settings: Settings,
    state: web::Data<AppState>,
    /// Who each access token handed out by [`TestApp::login`] belongs to.
    signed_in: Mutex<std::collections::HashMap<String, String>>,
    _running: RunningApp,
    _db: Option<TestDb>,
}

/// A response, read fully.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts this is a problem document with the given status and code; returns it.
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "status {status}"
        );
        let p = self.json();
        assert_eq!(p["code"], code, "problem: {p}");
        assert_eq!(p["status"], status);
        assert!(
            p["type"].is_string() && p["title"].is_string() && p["detail"].is_string(),
            "{p}"
        );
        p
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Settings every test app starts from.
pub fn test_settings() -> Settings {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&dir, AppEnv::Test, vec![]).expect("test settings");
    settings.auth.jwt_secret = JWT_SECRET.to_string().into();
    settings.audit.signing_key = AUDIT_SIGNING_KEY.to_string().into();
    settings.audit.checkpoint_interval_seconds = 0;
    settings.server.workers = 2;
    settings
}

/// Boots the app after letting the test adjust its settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    let db = TestDb::create();
    settings.database.url = db.url.clone();
    adjust(&mut settings);
    boot(settings, Some(db)).await
}

/// The application on a database the test made itself (no database of its own to drop).
pub async fn spawn_app_on(url: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    settings.database.url = url.to_string();
    adjust(&mut settings);
    boot(settings, None).await
}

/// A second instance on the same database as `other` (as with several app servers).
pub async fn spawn_sibling(other: &TestApp, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = other.settings.clone();
    adjust(&mut settings);
    boot(settings, None).await
}

async fn boot(settings: Settings, db: Option<TestDb>) -> TestApp {
    statements::install();
    let clock = Arc::new(OffsetClock::default());
    let app = Application::build_with_clock(settings.clone(), clock.clone())
        .await
        .expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let running = app.spawn();
    TestApp {
        address,
        client: {
            asset_exchange::tls::use_ring();
            awc::Client::builder().disable_timeout().finish()
        },
        clock,
        settings,
        state,
        signed_in: Mutex::new(std::collections::HashMap::new()),
        _running: running,
        _db: db,
    }
}

impl TestApp {
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The application's shared state (its hub, clock, database, ...).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// SQL statements run so far on this app's database by every connection of this process
    /// (all instances on it), `SELECT 1` left out (pool check-outs, the listener's ping).
    pub fn statements(&self) -> u64 {
        statements::on(&self.settings.database.url)
    }

    /// Transactions begun on the app's database so far (every connection).
    pub fn transactions(&self) -> u64 {
        statements::begun_on(&self.settings.database.url)
    }

    /// Every outbox row so far, whatever its delivery status (pending, sent or failed), read
    /// in one snapshot: the mail worker may send a message between two reads, and a row read
    /// once as pending and again as sent would be counted twice.
    pub async fn outbox(&self) -> Vec<asset_exchange::store::notifications::Notification> {
        let db = self.db().clone();
        actix_web::rt::task::spawn_blocking(move || {
            db.snapshot_blocking(|c| {
                let mut out = Vec::new();
                for status in ["pending", "sent", "failed"] {
                    let (rows, _) =
                        asset_exchange::store::notifications::by_status(c, status, 0, 10_000)?;
                    out.extend(rows);
                }
                Ok(out)
            })
        })
        .await
        .expect("the outbox reader")
        .expect("read the outbox")
    }

    /// The exchange's time (its clock, sandbox offset included).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.state.clock.now()
    }

    /// Moves the exchange's clock forward through `POST /api/v1/sandbox/clock`, as an admin
    /// (signed in afresh each time: a long move expires earlier tokens); returns the new time.
    pub async fn advance(
        &self,
        admin_email: &str,
        by: chrono::Duration,
    ) -> chrono::DateTime<chrono::Utc> {
        let token = self.token(admin_email).await;
        let r = self
            .post(
                "/api/v1/sandbox/clock",
                Some(&token),
                &json!({"advance_seconds": by.num_seconds()}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["now"].as_str().unwrap().parse().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    async fn read(
        mut resp: awc::ClientResponse<
            impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
            + Unpin,
        >,
    ) -> Resp {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .expect("body")
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Any request with a raw body and headers.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        Self::read(req.send_body(body).await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let mut req = self.client.post(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send_json(body).await.expect("request sent")).await
    }

    /// Registers an account with sensible defaults, overridden by `fields`.
    pub async fn register(&self, fields: Value) -> Resp {
        let mut body = json!({
            "email": format!("user{}@example.com", next_id()),
            "password": PASSWORD,
            "name": "王小明",
            "role": "bidder",
            "organization_name": "某某国有资本投资有限公司",
            "credit_code": credit_code(),
        });
        if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
            for (k, v) in f {
                b.insert(k.clone(), v.clone());
            }
        }
        self.post("/api/v1/auth/register", None, &body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        let r = self
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": email, "password": password}),
            )
            .await;
        if r.status == 200
            && let Some(token) = r.json()["access_token"].as_str()
        {
            self.signed_in
                .lock()
                .unwrap()
                .insert(token.to_string(), email.to_string());
        }
        r
    }

    /// A fresh access token for whoever `old` belonged to (after the exchange's clock moved
    /// past its lifetime).
    pub async fn token_of(&self, old: &str) -> String {
        let email = self
            .signed_in
            .lock()
            .unwrap()
            .get(old)
            .cloned()
            .expect("a token this test app handed out");
        self.token(&email).await
    }

    /// Registers a fresh account of `role` and signs in; returns (email, token pair).
    pub async fn signed_in(&self, role: &str) -> (String, Value) {
        let email = format!("{role}{}@example.com", next_id());
        let r = self.register(json!({"email": email, "role": role})).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let l = self.login(&email, PASSWORD).await;
        assert_eq!(l.status, 200);
        (email, l.json())
    }

    /// Shuts the background jobs down gracefully, as SIGTERM does.
    pub async fn stop_jobs(&mut self) {
        self._running
            .stop_jobs(std::time::Duration::from_secs(10))
            .await;
    }

    /// A bidder whose e-mail address is confirmed (so it may register on listings).
    /// Returns (e-mail, access token).
    pub async fn verified_bidder(&self) -> (String, String) {
        self.verified_bidder_with(json!({})).await
    }

    /// A verified bidder registered with `fields` (e-mail, phone, ...) over the defaults.
    pub async fn verified_bidder_with(&self, fields: Value) -> (String, String) {
        let mut fields = fields;
        let email = fields["email"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("bidder{}@example.com", next_id()));
        fields["email"] = json!(email);
        fields["role"] = json!("bidder");
        let r = self.register(fields).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let t = self.login(&email, PASSWORD).await.json();
        let mut token = None;
        for _ in 0..100 {
            token = self
                .mailer_stub()
                .into_iter()
                .find(|m| m.to == email && m.text.contains("token="))
                .map(|m| {
                    let start = m.text.find("token=").unwrap() + 6;
                    m.text[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect::<String>()
                });
            if token.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let r = self
            .post(
                "/api/v1/auth/verify-email",
                None,
                &json!({"token": token.expect("verification mail")}),
            )
            .await;
        assert_eq!(r.status, 204);
        (email, t["access_token"].as_str().unwrap().to_string())
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let mut req = self.client.patch(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send_json(body).await.expect("request sent")).await
    }

    /// What the in-memory mail transport has sent so far.
    pub fn mailer_stub(&self) -> Vec<asset_exchange::notify::transport::StubMail> {
        self.state.mailer.stub_outbox()
    }

    /// Creates a staff account directly (as `asset-exchange user create` does) and signs in.
    pub async fn staff(&self, role: &str) -> (i64, String) {
        let (id, _, token) = self.staff_account(role).await;
        (id, token)
    }

    /// A fresh access token for `email` (after the exchange's clock moved past the old one's
    /// lifetime).
    pub async fn token(&self, email: &str) -> String {
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["access_token"].as_str().unwrap().to_string()
    }

    /// [`TestApp::staff`], with the account's e-mail.
    pub async fn staff_account(&self, role: &str) -> (i64, String, String) {
        let email = format!("{role}{}@exchange.example", next_id());
        let role = asset_exchange::domain::Role::parse(role).expect("staff role");
        let hash = self.state.passwords.hash(PASSWORD).unwrap();
        let salt = self.state.pii_salt.clone();
        let now = self.state.clock.now();
        let e = email.clone();
        let user = self
            .db()
            .tx(move |c| {
                asset_exchange::auth::accounts::create_staff(
                    c,
                    &e,
                    "值班人员",
                    role,
                    &hash,
                    &salt,
                    now,
                )
            })
            .await
            .expect("staff created");
        let l = self.login(&email, PASSWORD).await;
        assert_eq!(l.status, 200);
        (
            user.id,
            email,
            l.json()["access_token"].as_str().unwrap().to_string(),
        )
    }

    /// The id of the supervising body with this GB/T 2260 region code (from the public list).
    pub async fn body_id(&self, region_code: &str) -> i64 {
        let all = self.get("/api/v1/supervisory-bodies", None).await.json();
        all.as_array()
            .unwrap()
            .iter()
            .find(|b| b["region_code"] == region_code)
            .unwrap_or_else(|| panic!("no body {region_code}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// Places a staff account under a supervising body, as `user create --supervisory-body`.
    pub async fn attach_to_body(&self, user_id: i64, body: i64) {
        let now = self.state.clock.now();
        self.db()
            .tx(move |c| {
                asset_exchange::auth::accounts::attach_staff_to_body(c, user_id, body, now)
            })
            .await
            .expect("auditor attached");
    }

    /// An auditor of the body with `region_code`: (user id, e-mail, access token).
    pub async fn body_auditor(&self, region_code: &str) -> (i64, String, String) {
        let body = self.body_id(region_code).await;
        let (id, email, token) = self.staff_account("auditor").await;
        self.attach_to_body(id, body).await;
        (id, email, token)
    }

    /// Runs raw SQL as the database owner would, going around the application; the
    /// statement for the current backend is chosen from the pair.
    pub async fn sql(&self, postgres: &str, sqlite: &str) {
        let (pg, lite) = (postgres.to_string(), sqlite.to_string());
        self.db()
            .run(move |c| {
                use diesel::connection::SimpleConnection;
                match c {
                    asset_exchange::store::Conn::Pg(c) => c.batch_execute(&pg)?,
                    asset_exchange::store::Conn::Sqlite(c) => c.batch_execute(&lite)?,
                }
                Ok(())
            })
            .await
            .expect("raw SQL")
    }

    /// Raw SQL that both backends understand.
    pub async fn sql_both(&self, statement: &str) {
        self.sql(statement, statement).await
    }

    /// Number of audit events, optionally of one action.
    pub async fn audit_count(&self, action: Option<&'static str>) -> i64 {
        use asset_exchange::store::schema::audit_events::dsl as a;
        use diesel::prelude::*;
        self.db()
            .run(move |c| {
                let n: i64 = asset_exchange::with_conn!(c, c => match action {
                    Some(act) => a::audit_events.filter(a::action.eq(act)).count().get_result(c),
                    None => a::audit_events.count().get_result(c),
                })?;
                Ok(n)
            })
            .await
            .expect("count")
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(1);

pub fn next_id() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst) * 1000 + std::process::id() % 1000
}

/// A valid, unique unified social credit code.
pub fn credit_code() -> String {
    let n = next_id();
    let body = format!("91350100{:09}", n % 1_000_000_000);
    let check = asset_exchange::domain::credit_code::check_character(&body).expect("body");
    format!("{body}{check}")
}

/// One test's database, removed when the test ends.
struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => Self::postgres(&base),
            _ => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
        }
    }

    fn postgres(base: &str) -> Self {
        let template = pg_template(base);
        let name = format!("ax_test_{}_{}", std::process::id(), next_id());
        {
            let _serial = CREATE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
            let mut admin = PgConnection::establish(base).expect("connect to TEST_DATABASE_URL");
            diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
                .execute(&mut admin)
                .expect("create test database");
        }
        TestDb {
            url: with_db(base, &name),
            _dir: None,
            pg: Some((base.to_string(), name)),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.pg
            && let Ok(mut admin) = PgConnection::establish(base)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

static CREATE_LOCK: Mutex<()> = Mutex::new(());
static TEMPLATE: OnceLock<String> = OnceLock::new();

/// Replaces the database name of a PostgreSQL URL.
pub fn with_db(base: &str, name: &str) -> String {
    let (head, tail) = base.split_at(base.rfind('/').expect("URL with a database"));
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    format!("{head}/{name}{query}")
}

/// A template database migrated once per migration set (named by a hash of the files).
fn pg_template(base: &str) -> String {
    TEMPLATE
        .get_or_init(|| {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
            let mut files: Vec<PathBuf> = walk(&root);
            files.sort();
            for f in files {
                h.update(f.strip_prefix(&root).unwrap().to_string_lossy().as_bytes());
                h.update(std::fs::read(&f).unwrap());
            }
            let name = format!("ax_tpl_{}", &hex::encode(h.finalize())[..16]);
            let mut admin = PgConnection::establish(base).expect("connect to TEST_DATABASE_URL");
            diesel::sql_query("SELECT pg_advisory_lock(725001)")
                .execute(&mut admin)
                .unwrap();
            #[derive(diesel::QueryableByName)]
            struct Exists {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let exists: Exists = diesel::sql_query(format!(
                "SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"
            ))
            .get_result(&mut admin)
            .unwrap();
            if exists.n == 0 {
                let building = format!("{name}_build");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                    .execute(&mut admin)
                    .unwrap();
                diesel::sql_query(format!("CREATE DATABASE {building}"))
                    .execute(&mut admin)
                    .unwrap();
                {
                    let mut s = asset_exchange::config::DatabaseSettings {
                        url: with_db(base, &building),
                        pool_size: 1,
                        connect_timeout_seconds: 10,
                        sqlite_busy_timeout_ms: 5000,
                        migrate_on_start: true,
                    };
                    s.pool_size = 1;
                    let db = Db::connect(&s).expect("connect to template");
                    db.migrate_blocking().expect("migrate template");
                }
                diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .execute(&mut admin)
                    .unwrap();
            }
            diesel::sql_query("SELECT pg_advisory_unlock(725001)")
                .execute(&mut admin)
                .unwrap();
            name
        })
        .clone()
}

fn walk(dir: &PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Counts SQL statements per database through diesel's instrumentation hook, which every
/// connection opened after [`statements::install`] reports to.
mod statements {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, Once};

    use diesel::connection::{Instrumentation, InstrumentationEvent};

    static COUNTS: Mutex<Option<HashMap<String, Arc<AtomicU64>>>> = Mutex::new(None);
    static INSTALL: Once = Once::new();

    fn counter(url: &str) -> Arc<AtomicU64> {
        let mut map = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
        map.get_or_insert_with(HashMap::new)
            .entry(url.to_string())
            .or_default()
            .clone()
    }

    /// Statements, and transactions begun, on one connection's database.
    struct Counter(Option<(Arc<AtomicU64>, Arc<AtomicU64>)>);

    impl Instrumentation for Counter {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            match event {
                InstrumentationEvent::StartEstablishConnection { url, .. } => {
                    self.0 = Some((counter(url), counter(&begun_key(url))));
                }
                InstrumentationEvent::StartQuery { query, .. } => {
                    let sql = query.to_string();
                    let sql = sql.split("-- binds").next().unwrap_or_default().trim();
                    if let Some((n, begun)) = &self.0
                        && sql != "SELECT 1"
                    {
                        n.fetch_add(1, Ordering::Relaxed);
                        if sql.to_ascii_uppercase().starts_with("BEGIN") {
                            begun.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    pub fn install() {
        INSTALL.call_once(|| {
            diesel::connection::set_default_instrumentation(|| Some(Box::new(Counter(None))))
                .expect("instrumentation installed");
        });
    }

    fn begun_key(url: &str) -> String {
        format!("{url} BEGIN")
    }

    /// Statements on the database of a configured URL so far.
    pub fn on(database_url: &str) -> u64 {
        let (_, url) = asset_exchange::store::Backend::from_url(database_url).expect("URL");
        counter(&url).load(Ordering::Relaxed)
    }

    /// Transactions begun on the database of a configured URL so far.
    pub fn begun_on(database_url: &str) -> u64 {
        let (_, url) = asset_exchange::store::Backend::from_url(database_url).expect("URL");
        counter(&begun_key(&url)).load(Ordering::Relaxed)
    }
}
