//! Bid throughput of `POST /api/v1/listings/{id}/bids` on PostgreSQL: accepted bids per
//! second and latency percentiles, (a) with every client on one hot listing and (b) with the
//! clients spread over 100 listings, each next to pgbench running the minimal SQL
//! transaction of one bid (`benches/bid_tx.sql`) with the same number of clients on the same
//! machine and database, and the ratio of the two.
//!
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench bids`
//! (optionally `-- SECONDS CLIENTS`, default 10 and 16). Without BENCH_DATABASE_URL it only
//! says how to run it. It needs `pgbench` on the PATH for the comparison.
//!
//! It creates a database of its own on that server (`ax_bench_bids_<pid>`) and drops it at
//! the end, boots the real application on it (test profile: cheap password hashing, mail kept
//! in memory; one HTTP worker per core, the configured connection pool, no audit
//! checkpoints) and sets everything up through the HTTP API: an enterprise, an operator,
//! CLIENTS bidders who confirm their e-mail address, 100 listings in disclosure with every
//! bidder registered, qualified and with the deposit paid on each. The app's clock is then
//! moved past the end of disclosure (as the API tests do) and each auction is scheduled to
//! start two seconds later, with a free bidding period of an hour.
//!
//! Load: CLIENTS closed loops over keep-alive HTTP/1.1 connections to 127.0.0.1, one thread
//! per client, each signed in as its own bidder. A client reads `GET .../auction`, bids the
//! current price plus one increment (the start price first) with a fresh Idempotency-Key;
//! refused with `bid_too_low`, it bids the `minimum_bid` the refusal names at once (as a
//! client of the API would), and on any other refusal reads again. A client that already leads does not bid against itself
//! (the listings forbid self-raising): on the hot listing it waits 2 ms and reads again;
//! spread out it moves on. Spread out, client i starts at listing i·100/CLIENTS and moves to
//! the next listing after each accepted bid. Two seconds of warm-up are dropped; only POSTs
//! started inside the measured period count: 201 is an accepted bid, any other status a
//! refusal (by problem code), an I/O failure an error. Latencies are of the POST alone.
//!
//! Then pgbench runs `bid_tx.sql` with `-M prepared -c CLIENTS -j CLIENTS -T SECONDS`
//! against the same database while the app stays up (idle): on the hot listing's auction,
//! then uniformly over the 100 auctions. Its percentiles come from its per-transaction log.
//! Then it runs `bid_log_tx.sql` the same way: the same transaction with the transparency
//! log appended in it, as every audit event of the product is (one lock for the whole
//! exchange, held to the commit), into tables of the log's shape made for it
//! (`bench_log_head`, `bench_log_nodes`). The report gives the app's ratio to each anchor.
//!
//! Every diesel connection of this process is instrumented (diesel's default
//! instrumentation hook). In the measured period it only counts statements (an atomic add
//! each), so the app pays nothing else for being watched: naming a statement means
//! formatting its SQL and binds, which cost the app's database threads about a fifth of
//! their CPU when every statement of the measured period was named. Then a separate,
//! shorter profiled period of the same load names and times every statement: the report
//! lists where the app's SQL time went there, per statement, as calls and milliseconds per
//! accepted bid (its throughput is not the one compared). CPU time comes from
//! /proc: the machine, this process (app server and load clients, told apart by the client
//! threads' own counters) and pgbench; the rest of the machine's busy time is PostgreSQL's
//! (and whatever else runs on the machine meanwhile).
//!
//! Client threads, server, PostgreSQL and pgbench share the machine's cores, so the absolute
//! numbers are a floor; the ratio to pgbench is the figure to compare between runs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use asset_exchange::config::{AppEnv, Settings};
use asset_exchange::domain::clock::{Clock, OffsetClock};
use asset_exchange::startup::Application;
use asset_exchange::state::AppState;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::{Value, json};

const LISTINGS: usize = 100;
const DEFAULT_SECONDS: u64 = 10;
const DEFAULT_CLIENTS: usize = 16;
const MAX_SECONDS: u64 = 300;
/// pgbench opens this many connections next to the app's pool; PostgreSQL allows 100.
const MAX_CLIENTS: usize = 64;
const WARM_UP: Duration = Duration::from_secs(2);
/// The longest profiled period (statements named and timed) after each measured one.
const PROFILED: Duration = Duration::from_secs(5);
/// Threads that drive the setup requests.
const SETUP_THREADS: usize = 8;
/// How long disclosure lasts before the app's clock is moved past its end.
const DISCLOSURE_SECONDS: i64 = 1_800;
/// Auctions start this long after they are scheduled.
const START_DELAY_SECONDS: i64 = 2;
/// A leading client on the hot listing waits this long before it reads again.
const LEADER_PAUSE: Duration = Duration::from_millis(2);
/// Upper bound on the attempts of one client in one period, whatever the duration.
const MAX_ATTEMPTS: u64 = 10_000_000;
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// A keep-alive connection idle for longer is not reused (the server's limit is 5 s).
const IDLE_REUSE: Duration = Duration::from_secs(2);
const MAX_HEADER_LINES: usize = 100;
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const PASSWORD: &str = "Sturdy-Passphrase-42";
const OWNER_EMAIL: &str = "seller@bench.example";
const OPERATOR_EMAIL: &str = "operator@bench.example";
const SCRIPT: &str = "benches/bid_tx.sql";
/// The same with the transparency log appended in the transaction (the second anchor).
const LOG_SCRIPT: &str = "benches/bid_log_tx.sql";

struct Options {
    seconds: u64,
    clients: usize,
}

fn options() -> anyhow::Result<Options> {
    // `cargo bench` passes `--bench`; only the numbers are ours.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = numbers.first().copied().unwrap_or(DEFAULT_SECONDS);
    let clients = numbers
        .get(1)
        .map(|&n| usize::try_from(n))
        .transpose()?
        .unwrap_or(DEFAULT_CLIENTS);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        bail!("the duration must be 1 to {MAX_SECONDS} seconds, not {seconds}");
    }
    // An auction needs two eligible bidders.
    if !(2..=MAX_CLIENTS).contains(&clients) {
        bail!("the client count must be 2 to {MAX_CLIENTS}, not {clients}");
    }
    Ok(Options { seconds, clients })
}

fn main() -> anyhow::Result<()> {
    let Some(base) = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("bids benchmark: skipped, BENCH_DATABASE_URL is not set.");
        println!(
            "It needs a PostgreSQL server on which it may create and drop a database of its own, \
             and pgbench on the PATH. Run it as:"
        );
        println!(
            "  BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
             cargo bench --bench bids [-- SECONDS CLIENTS]"
        );
        return Ok(());
    };
    if !(base.starts_with("postgres://") || base.starts_with("postgresql://")) {
        bail!("BENCH_DATABASE_URL must be a postgres:// URL");
    }
    let opts = options()?;
    // Before any connection exists: every diesel connection of this process reports its
    // statements to `QUERIES`.
    diesel::connection::set_default_instrumentation(QueryTimer::boxed)?;
    let db = BenchDb::create(&base)?;
    let outcome = actix_web::rt::System::new().block_on(run(opts, db.url.clone(), db.name.clone()));
    drop(db);
    outcome
}

async fn run(opts: Options, url: String, db_name: String) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings =
        Settings::load_from(&config_dir, AppEnv::Test, Vec::<(String, String)>::new())?;
    settings.database.url = url.clone();
    settings.auth.jwt_secret = "bids-benchmark-only-0123456789abcdef".to_string().into();
    settings.audit.signing_key = base64::engine::general_purpose::STANDARD
        .encode([42u8; 32])
        .into();
    settings.audit.checkpoint_interval_seconds = 0;
    settings.server.workers = cores;
    let pool = settings.database.pool_size;

    let clock = Arc::new(OffsetClock::default());
    let app = Application::build_with_clock(settings, clock.clone()).await?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, app.port()));
    let state = app.state();
    let running = app.spawn();

    let ctx = Ctx {
        addr,
        state,
        clock,
        url,
        db_name,
        cores,
        pool,
        seconds: opts.seconds,
        clients: opts.clients,
    };
    let outcome = tokio::task::spawn_blocking(move || bench(&ctx))
        .await
        .context("benchmark task failed")?;
    drop(running);
    outcome
}

/// What the blocking part of the benchmark works with.
struct Ctx {
    addr: SocketAddr,
    state: actix_web::web::Data<AppState>,
    clock: Arc<OffsetClock>,
    url: String,
    db_name: String,
    cores: usize,
    pool: u32,
    seconds: u64,
    clients: usize,
}

fn bench(ctx: &Ctx) -> anyhow::Result<()> {
    let measure = Duration::from_secs(ctx.seconds);
    let mut pg =
        PgConnection::establish(&ctx.url).context("cannot connect to the bench database")?;
    let version = sql_text(&mut pg, "SELECT version() AS v")?;
    let pgbench_version = Command::new("pgbench")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    print_header(ctx, &version, pgbench_version.as_deref());

    let started = Instant::now();
    let world = setup(ctx, &mut pg)?;
    println!(
        "setup through the API: 1 enterprise, 1 operator, {} verified bidders, {LISTINGS} listings, \
         {} registrations (qualified, deposit paid), {LISTINGS} auctions open: {:.1} s",
        ctx.clients,
        LISTINGS * ctx.clients,
        started.elapsed().as_secs_f64()
    );

    // The second anchor's log: the shape of the app's, apart from it.
    pg.batch_execute(
        "CREATE TABLE bench_log_head (LIKE audit_log_head INCLUDING ALL); \
         INSERT INTO bench_log_head (id, size, frontier) VALUES (1, 0, ''::bytea); \
         CREATE TABLE bench_log_nodes (LIKE audit_log_nodes INCLUDING ALL);",
    )?;
    let mut rows = Vec::new();
    for case in &cases(&world)? {
        let (app, bench) = run_case(ctx, &world, case, pgbench_version.is_some())?;
        rows.push((case.name, app, bench));
    }
    print_summary(ctx, &rows, measure);
    Ok(())
}

/// What the run is: command, machine, server, app and load.
fn print_header(ctx: &Ctx, version: &str, pgbench_version: Option<&str>) {
    println!("bids benchmark");
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!(
        "machine: {} cores ({}), {} {}",
        ctx.cores,
        cpu_model(),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    println!("server: {version}");
    println!(
        "app: test profile, {} HTTP workers, pool of {} connections, database {} (dropped at the end)",
        ctx.cores, ctx.pool, ctx.db_name
    );
    println!(
        "load: {} clients, closed loop, {} s per run after a {} s warm-up; pgbench: {}",
        ctx.clients,
        ctx.seconds,
        WARM_UP.as_secs(),
        pgbench_version.unwrap_or("NOT FOUND (install postgresql-client)")
    );
}

/// The two cases: every client on one listing, and clients spread over all of them.
fn cases(world: &World) -> anyhow::Result<[Case; 2]> {
    let hot_aid = *world
        .auctions
        .first()
        .ok_or_else(|| anyhow!("no auction"))?;
    let (lo, hi) = (
        world.first_auction,
        world.first_auction + LISTINGS as i64 - 1,
    );
    let cases = [
        Case {
            name: "hot",
            what: "one listing, every client on it",
            hot: true,
            aid_lo: hot_aid,
            aid_hi: hot_aid,
        },
        Case {
            name: "spread",
            what: "100 listings, clients round-robin",
            hot: false,
            aid_lo: lo,
            aid_hi: hi,
        },
    ];
    Ok(cases)
}

/// One case: the app under load, then (when pgbench is there) the bare transaction.
fn run_case(
    ctx: &Ctx,
    world: &World,
    case: &Case,
    with_pgbench: bool,
) -> anyhow::Result<(Stats, Vec<Pgbench>)> {
    let measure = Duration::from_secs(ctx.seconds);
    println!();
    println!("== {}: {} ==", case.name, case.what);
    // Fresh tokens for each period: the access tokens live 15 minutes of app time.
    let tokens = sign_in_bidders(ctx, world)?;
    let (app, _) = load(ctx, world, &tokens, case.hot, measure)?;
    print_app(&app, measure);
    let per = |n: usize| app.statements as f64 / n.max(1) as f64;
    println!(
        "app SQL in the measured period (all connections: bids, reads, background jobs; counted, \
         not named): {} statements, {:.1} per accepted bid ({:.1} per POST)",
        app.statements,
        per(app.accepted.len()),
        per(app.posts.len())
    );
    // The same load again, shorter, with every statement named and timed.
    let profiled = measure.min(PROFILED);
    PROFILING.store(true, Ordering::Relaxed);
    let run = load(ctx, world, &tokens, case.hot, profiled);
    PROFILING.store(false, Ordering::Relaxed);
    let (prof, queries) = run?;
    println!(
        "profiled period ({} s, statements named and timed; its rate is not compared): \
         {:.1} accepted bids/s, {:.1} POSTs/s",
        profiled.as_secs(),
        prof.accepted.len() as f64 / profiled.as_secs_f64(),
        prof.posts.len() as f64 / profiled.as_secs_f64()
    );
    print_queries(&queries, prof.accepted.len(), prof.posts.len());
    let mut anchors = Vec::new();
    if with_pgbench {
        for (script, without) in [
            (SCRIPT, "the bare transaction"),
            (LOG_SCRIPT, "the bare transaction with the log"),
        ] {
            let r = pgbench(ctx, script, case, world)?;
            print_pgbench(&r);
            let app_rate = app.accepted.len() as f64 / measure.as_secs_f64();
            println!(
                "ratio app/pgbench {script}: {:.3} ({:.1}x fewer bids per second than {without})",
                ratio(app_rate, r.tps),
                ratio(r.tps, app_rate)
            );
            anchors.push(r);
        }
    } else {
        println!("pgbench: not found on the PATH; no comparison");
    }
    Ok((app, anchors))
}

/// The summary table of every case.
fn print_summary(ctx: &Ctx, rows: &[(&str, Stats, Vec<Pgbench>)], measure: Duration) {
    println!();
    println!(
        "summary ({} clients, {} s each; latencies in ms; anchors: bid_tx.sql, and bid_log_tx.sql \
         with the transparency log)",
        ctx.clients, ctx.seconds
    );
    println!(
        "{:<7} {:>10} {:>10} {:>8} {:>7} {:>7} {:>7} | {:<12} {:>7} {:>7} {:>7} {:>7} {:>7} | {:>11}",
        "case",
        "app bids/s",
        "refused/s",
        "POSTs/s",
        "p50",
        "p90",
        "p99",
        "anchor",
        "tps",
        "avg",
        "p50",
        "p90",
        "p99",
        "app/anchor"
    );
    for (name, app, anchors) in rows {
        let rate = app.accepted.len() as f64 / measure.as_secs_f64();
        let refused: u64 = app.refusals.values().sum();
        let app_part = format!(
            "{:<7} {:>10.1} {:>10.1} {:>8.1} {:>7.2} {:>7.2} {:>7.2}",
            name,
            rate,
            refused as f64 / measure.as_secs_f64(),
            app.posts.len() as f64 / measure.as_secs_f64(),
            percentile_ms(&app.accepted, 0.50),
            percentile_ms(&app.accepted, 0.90),
            percentile_ms(&app.accepted, 0.99),
        );
        if anchors.is_empty() {
            println!("{app_part} | (no pgbench)");
        }
        for b in anchors {
            let script = Path::new(&b.script)
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
            println!(
                "{app_part} | {:<12} {:>7.0} {:>7.2} {:>7.2} {:>7.2} {:>7.2} | {:>11.3}",
                script.trim_end_matches(".sql"),
                b.tps,
                b.latency_avg_ms,
                percentile_ms(&b.latencies, 0.50),
                percentile_ms(&b.latencies, 0.90),
                percentile_ms(&b.latencies, 0.99),
                ratio(rate, b.tps)
            );
        }
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

// ---------------------------------------------------------------------------------------
// The benchmark's own database

struct BenchDb {
    base: String,
    name: String,
    url: String,
}

impl BenchDb {
    fn create(base: &str) -> anyhow::Result<Self> {
        let name = format!("ax_bench_bids_{}", std::process::id());
        let url = with_db(base, &name)?;
        let mut admin =
            PgConnection::establish(base).context("cannot connect to BENCH_DATABASE_URL")?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .with_context(|| format!("cannot create the database {name}"))?;
        Ok(BenchDb {
            base: base.to_string(),
            name,
            url,
        })
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.base)
            .map_err(anyhow::Error::from)
            .and_then(|mut admin| {
                admin
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .map_err(anyhow::Error::from)
            });
        match dropped {
            Ok(()) => println!("dropped database {}", self.name),
            Err(e) => eprintln!("could not drop database {}: {e}", self.name),
        }
    }
}

/// Replaces the database name of a PostgreSQL URL.
fn with_db(base: &str, name: &str) -> anyhow::Result<String> {
    let slash = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .ok_or_else(|| anyhow!("BENCH_DATABASE_URL must name a database"))?;
    let (head, tail) = base.split_at(slash);
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    Ok(format!("{head}/{name}{query}"))
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

#[derive(QueryableByName)]
struct IdPair {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    a: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    b: i64,
}

fn sql_text(pg: &mut PgConnection, sql: &str) -> anyhow::Result<String> {
    let row: TextRow = diesel::sql_query(sql).get_result(pg)?;
    Ok(row.v)
}

// ---------------------------------------------------------------------------------------
// SQL time per statement, from diesel's instrumentation hook

/// (calls, nanoseconds) per statement.
type QueryTimes = BTreeMap<String, (u64, u64)>;

/// Statement times of every diesel connection of this process, while [`PROFILING`].
static QUERIES: Mutex<QueryTimes> = Mutex::new(BTreeMap::new());

/// Whether statements are named and timed (the profiled period), or only counted.
static PROFILING: AtomicBool = AtomicBool::new(false);

/// Load periods started so far (each one's Idempotency-Keys are its own).
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Statements started by every diesel connection of this process.
static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

struct QueryTimer {
    started: Option<(String, Instant)>,
}

impl QueryTimer {
    fn boxed() -> Option<Box<dyn Instrumentation>> {
        Some(Box::new(QueryTimer { started: None }))
    }
}

impl Instrumentation for QueryTimer {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                STATEMENTS.fetch_add(1, Ordering::Relaxed);
                if PROFILING.load(Ordering::Relaxed) {
                    let key = statement_key(&query.to_string());
                    self.started = Some((key, Instant::now()));
                }
            }
            InstrumentationEvent::FinishQuery { .. } => {
                if let Some((key, at)) = self.started.take() {
                    let ns = u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    if let Ok(mut m) = QUERIES.lock() {
                        let e = m.entry(key).or_insert((0, 0));
                        e.0 += 1;
                        e.1 += ns;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Takes the statement times gathered so far and starts afresh.
fn take_queries() -> QueryTimes {
    QUERIES
        .lock()
        .map(|mut m| std::mem::take(&mut *m))
        .unwrap_or_default()
}

/// A short, stable name for a statement: no binds, no quotes, numbers inside literals as
/// N (`NOTIFY auction_events, 'N'`), the select list left out.
fn statement_key(sql: &str) -> String {
    let sql = sql.split("-- binds").next().unwrap_or(sql).replace('"', "");
    let mut flat = String::with_capacity(sql.len());
    let mut quoted = false;
    for word in sql.split_whitespace() {
        if !flat.is_empty() {
            flat.push(' ');
        }
        for ch in word.chars() {
            if ch == '\'' {
                quoted = !quoted;
            }
            if quoted && ch.is_ascii_digit() {
                if !flat.ends_with('N') {
                    flat.push('N');
                }
            } else {
                flat.push(ch);
            }
        }
    }
    let key = if flat.starts_with("SELECT") {
        match flat.find(" FROM ") {
            Some(i) => format!("SELECT … {}", &flat[i + 1..]),
            None => flat,
        }
    } else if let Some(rest) = flat.strip_prefix("INSERT INTO ") {
        let table = rest.split([' ', '(']).next().unwrap_or("");
        let mut k = format!("INSERT INTO {table}");
        if flat.contains("ON CONFLICT") {
            k.push_str(" … ON CONFLICT DO NOTHING");
        }
        if flat.contains(" RETURNING ") {
            k.push_str(" … RETURNING …");
        }
        k
    } else {
        flat
    };
    key.chars().take(110).collect()
}

fn print_queries(q: &QueryTimes, accepted: usize, posts: usize) {
    let per = accepted.max(1) as f64;
    let calls: u64 = q.values().map(|v| v.0).sum();
    let nanos: u64 = q.values().map(|v| v.1).sum();
    println!(
        "app SQL in the profiled period (all connections: bids, reads, background jobs): \
         {calls} statements, {:.1} per accepted bid ({:.1} per POST), {:.2} ms of SQL time \
         (wall time from send to result, summed over connections) per accepted bid",
        calls as f64 / per,
        calls as f64 / posts.max(1) as f64,
        nanos as f64 / 1e6 / per
    );
    let mut top: Vec<_> = q.iter().collect();
    top.sort_by_key(|(_, t)| std::cmp::Reverse(t.1));
    println!(
        "  {:>9} {:>9} {:>9} {:>6}  statement",
        "calls/bid", "ms/bid", "mean ms", "share"
    );
    for (sql, (n, ns)) in top.into_iter().take(14) {
        println!(
            "  {:>9.2} {:>9.3} {:>9.3} {:>5.1}%  {sql}",
            *n as f64 / per,
            *ns as f64 / 1e6 / per,
            *ns as f64 / 1e6 / (*n).max(1) as f64,
            100.0 * *ns as f64 / nanos.max(1) as f64
        );
    }
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 over keep-alive connections

struct Resp {
    status: u16,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The problem code of a refusal, or the status.
    fn code(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| format!("http_{}", self.status))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    line: Vec<u8>,
    /// When the connection last answered: the server closes idle ones after 5 s.
    last_used: Instant,
}

impl Http {
    fn new(addr: SocketAddr) -> Self {
        Http {
            addr,
            conn: None,
            line: Vec::with_capacity(256),
            last_used: Instant::now(),
        }
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Resp> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: bids-bench\r\n",
            self.addr
        );
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(k) = idempotency_key {
            req.push_str(&format!("Idempotency-Key: {k}\r\n"));
        }
        let payload = match body {
            Some(v) => serde_json::to_vec(v)?,
            None => Vec::new(),
        };
        if body.is_some() {
            req.push_str("Content-Type: application/json\r\n");
        }
        if body.is_some() || method != "GET" {
            req.push_str(&format!("Content-Length: {}\r\n", payload.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&payload);
        let outcome = self.exchange(&bytes);
        if outcome.is_err() {
            self.conn = None;
        }
        outcome
    }

    fn exchange(&mut self, request: &[u8]) -> anyhow::Result<Resp> {
        if self.last_used.elapsed() > IDLE_REUSE {
            self.conn = None;
        }
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(IO_TIMEOUT))?;
            stream.set_write_timeout(Some(IO_TIMEOUT))?;
            self.conn = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        let reader = self.conn.as_mut().ok_or_else(|| anyhow!("no connection"))?;
        reader.get_mut().write_all(request)?;
        let (resp, keep_alive) = read_response(reader, &mut self.line)?;
        self.last_used = Instant::now();
        if !keep_alive {
            self.conn = None;
        }
        Ok(resp)
    }
}

fn read_line(reader: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> anyhow::Result<()> {
    line.clear();
    if reader.read_until(b'\n', line)? == 0 {
        bail!("connection closed by the server");
    }
    Ok(())
}

fn read_body(
    reader: &mut BufReader<TcpStream>,
    body: &mut Vec<u8>,
    n: usize,
) -> anyhow::Result<()> {
    if body.len() + n > MAX_BODY_BYTES {
        bail!("response body larger than {MAX_BODY_BYTES} bytes");
    }
    let start = body.len();
    body.resize(start + n, 0);
    reader.read_exact(&mut body[start..])?;
    Ok(())
}

/// Reads one response; returns it and whether the connection may be reused.
fn read_response(
    reader: &mut BufReader<TcpStream>,
    line: &mut Vec<u8>,
) -> anyhow::Result<(Resp, bool)> {
    read_line(reader, line)?;
    let status_line = std::str::from_utf8(line)?.trim_end().to_string();
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut keep_alive = version == "HTTP/1.1";
    let mut length = None;
    let mut chunked = false;
    let mut lines = 0;
    loop {
        read_line(reader, line)?;
        let text = std::str::from_utf8(line)?.trim_end();
        if text.is_empty() {
            break;
        }
        lines += 1;
        if lines > MAX_HEADER_LINES {
            bail!("too many header lines");
        }
        let Some((name, value)) = text.split_once(':') else {
            bail!("bad header line {text:?}");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            read_line(reader, line)?;
            let text = std::str::from_utf8(line)?.trim_end();
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| anyhow!("bad chunk size {text:?}"))?;
            if size == 0 {
                loop {
                    read_line(reader, line)?;
                    if line.as_slice() == b"\r\n" || line.as_slice() == b"\n" {
                        break;
                    }
                }
                break;
            }
            read_body(reader, &mut body, size)?;
            read_line(reader, line)?;
        }
    } else if let Some(n) = length {
        read_body(reader, &mut body, n)?;
    } else if status != 204 && status != 304 {
        keep_alive = false;
    }
    Ok((Resp { status, body }, keep_alive))
}

/// One request whose status must be `want`; returns the JSON body (Null when empty).
fn call(
    http: &mut Http,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
    want: u16,
) -> anyhow::Result<Value> {
    let body = if method == "GET" { None } else { Some(body) };
    let r = http.request(method, path, token, None, body)?;
    if r.status != want {
        bail!(
            "{method} {path} answered {} (wanted {want}): {}",
            r.status,
            r.text()
        );
    }
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    r.json()
}

fn login(http: &mut Http, email: &str) -> anyhow::Result<String> {
    let v = call(
        http,
        "POST",
        "/api/v1/auth/login",
        None,
        &json!({"email": email, "password": PASSWORD}),
        200,
    )?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no access token for {email}: {v}"))
}

/// Runs `f` over `0..n` on `threads` threads, each with its own connection; the results in
/// order, or the first error.
fn par_map<T, F>(addr: SocketAddr, n: usize, threads: usize, f: F) -> anyhow::Result<Vec<T>>
where
    T: Send,
    F: Fn(&mut Http, usize) -> anyhow::Result<T> + Sync,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            s.spawn(|| {
                let mut http = Http::new(addr);
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    match f(&mut http, i) {
                        Ok(v) => {
                            if let Ok(mut slots) = slots.lock()
                                && let Some(slot) = slots.get_mut(i)
                            {
                                *slot = Some(v);
                            }
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            if let Ok(mut first) = first_error.lock() {
                                first.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error
        .into_inner()
        .map_err(|_| anyhow!("a setup thread panicked"))?
    {
        return Err(e);
    }
    slots
        .into_inner()
        .map_err(|_| anyhow!("a setup thread panicked"))?
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or_else(|| anyhow!("setup item {i} has no result")))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Setup through the API

struct World {
    bidder_emails: Vec<String>,
    listings: Vec<i64>,
    /// The auction of each listing, in the same order.
    auctions: Vec<i64>,
    /// The smallest auction id; the 100 auctions have consecutive ids.
    first_auction: i64,
    /// Bidder code of bidder `b` on listing `l`: `codes[l][b]`.
    codes: Vec<Vec<String>>,
    /// A registration and its user, for pgbench's foreign keys.
    registration: (i64, i64),
}

/// A valid, unique unified social credit code.
fn credit_code(n: usize) -> anyhow::Result<String> {
    let body = format!("91350100{:09}", n % 1_000_000_000);
    let check = asset_exchange::domain::credit_code::check_character(&body)
        .ok_or_else(|| anyhow!("no check character for {body}"))?;
    Ok(format!("{body}{check}"))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The seller (registered through the API) and the operator (created as
/// `asset-exchange user create` does); returns their access tokens.
fn setup_staff(ctx: &Ctx, http: &mut Http) -> anyhow::Result<(String, String)> {
    let state = &ctx.state;
    call(
        http,
        "POST",
        "/api/v1/auth/register",
        None,
        &json!({
            "email": OWNER_EMAIL, "password": PASSWORD, "name": "国资经办人", "role": "enterprise",
            "organization_name": "某市国有资产经营公司", "credit_code": credit_code(1)?,
        }),
        201,
    )?;
    let owner = login(http, OWNER_EMAIL)?;

    // The operator, created directly as `asset-exchange user create` does.
    let role = asset_exchange::domain::Role::parse("operator")
        .ok_or_else(|| anyhow!("no operator role"))?;
    let hash = state.passwords.hash(PASSWORD)?;
    let salt = state.pii_salt.clone();
    let now = state.clock.now();
    state
        .db
        .tx_blocking(|c| {
            asset_exchange::auth::accounts::create_staff(
                c,
                OPERATOR_EMAIL,
                "值班人员",
                role,
                &hash,
                &salt,
                now,
            )
        })
        .map_err(|e| anyhow!("cannot create the operator: {e}"))?;
    let operator = login(http, OPERATOR_EMAIL)?;

    Ok((owner, operator))
}

/// The bidders, each with a confirmed e-mail address; returns their e-mails and tokens.
fn setup_bidders(ctx: &Ctx) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let (addr, state) = (ctx.addr, &ctx.state);
    let emails: Vec<String> = (0..ctx.clients)
        .map(|i| format!("bidder{i}@bench.example"))
        .collect();
    par_map(addr, ctx.clients, SETUP_THREADS, |http, i| {
        call(
            http,
            "POST",
            "/api/v1/auth/register",
            None,
            &json!({
                "email": emails[i], "password": PASSWORD, "name": format!("竞买人{i}"), "role": "bidder",
                "organization_name": format!("某某投资有限公司{i}"), "credit_code": credit_code(100 + i)?,
            }),
            201,
        )
        .map(|_| ())
    })?;
    let verification = verification_tokens(state, &emails)?;
    par_map(addr, ctx.clients, SETUP_THREADS, |http, i| {
        call(
            http,
            "POST",
            "/api/v1/auth/verify-email",
            None,
            &json!({"token": verification[i]}),
            204,
        )
        .map(|_| ())
    })?;
    let tokens = par_map(addr, ctx.clients, SETUP_THREADS, |http, i| {
        login(http, &emails[i])
    })?;
    Ok((emails, tokens))
}

/// The listings, submitted and approved, in disclosure until `disclosure_end`.
fn open_listings(
    ctx: &Ctx,
    owner: &str,
    operator: &str,
    disclosure_end: &str,
) -> anyhow::Result<Vec<i64>> {
    let appraisal_date = (Utc::now() - chrono::Duration::days(30))
        .date_naive()
        .to_string();
    par_map(ctx.addr, LISTINGS, SETUP_THREADS, |http, i| {
        let l = call(
            http,
            "POST",
            "/api/v1/listings",
            Some(owner),
            &json!({
                "kind": "equity_transfer",
                "title": format!("基准测试第{}号国有企业100%股权转让", i + 1),
                "description": "转让标的为某公司100%股权，详见信息披露公告及评估报告。",
                "appraised_value": "10000000.00",
                "appraisal_date": appraisal_date,
                "listing_price": "10000000.00",
                "deposit": "1000000.00",
                "increment": "50000.00",
                "disclosure_working_days": 20,
                "free_bidding_seconds": 3600,
                "countdown_seconds": 300,
            }),
            201,
        )?;
        let id = l["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("no listing id: {l}"))?;
        call(
            http,
            "POST",
            &format!("/api/v1/listings/{id}/submit"),
            Some(owner),
            &json!({}),
            200,
        )?;
        call(
            http,
            "POST",
            &format!("/api/v1/listings/{id}/review"),
            Some(operator),
            &json!({"decision": "approve", "disclosure_end": disclosure_end}),
            200,
        )?;
        Ok(id)
    })
}

/// Every bidder registered, qualified and paid on every listing: (registration, bidder code).
fn register_everyone(
    ctx: &Ctx,
    listings: &[i64],
    bidders: &[String],
    operator: &str,
) -> anyhow::Result<Vec<(i64, String)>> {
    let clients = ctx.clients;
    par_map(ctx.addr, LISTINGS * clients, SETUP_THREADS, |http, i| {
        let (l, b) = (i / clients, i % clients);
        let listing = listings[l];
        let r = call(
            http,
            "POST",
            &format!("/api/v1/listings/{listing}/registrations"),
            Some(&bidders[b]),
            &json!({}),
            201,
        )?;
        let rid = r["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("no registration id: {r}"))?;
        let q = call(
            http,
            "POST",
            &format!("/api/v1/registrations/{rid}/review"),
            Some(operator),
            &json!({"decision": "qualify"}),
            200,
        )?;
        let code = q["bidder_code"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no bidder code: {q}"))?;
        let d = call(
            http,
            "POST",
            &format!("/api/v1/registrations/{rid}/deposit"),
            Some(operator),
            &json!({"action": "confirm", "reference": format!("BANK-{l}-{b}")}),
            200,
        )?;
        if d["deposit_status"] != "paid" {
            bail!("deposit not paid: {d}");
        }
        Ok((rid, code))
    })
}

/// Schedules every auction to start shortly; returns the start times.
fn schedule_auctions(
    ctx: &Ctx,
    listings: &[i64],
    operator: &str,
) -> anyhow::Result<Vec<DateTime<Utc>>> {
    par_map(ctx.addr, LISTINGS, SETUP_THREADS, |http, i| {
        let id = listings[i];
        for _ in 0..100 {
            let at = ctx.clock.now() + chrono::Duration::seconds(START_DELAY_SECONDS);
            let r = http.request(
                "POST",
                &format!("/api/v1/listings/{id}/auction"),
                Some(operator),
                None,
                Some(&json!({"starts_at": at.to_rfc3339()})),
            )?;
            match r.status {
                200 => return Ok(at),
                409 if r.code() == "invalid_state" => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                _ => bail!(
                    "scheduling listing {id} answered {}: {}",
                    r.status,
                    r.text()
                ),
            }
        }
        bail!("listing {id} could not be scheduled within 10 s")
    })
}

fn setup(ctx: &Ctx, pg: &mut PgConnection) -> anyhow::Result<World> {
    let addr = ctx.addr;
    let mut http = Http::new(addr);

    let (owner, operator) = setup_staff(ctx, &mut http)?;
    let (emails, bidders) = setup_bidders(ctx)?;
    // The listings, in disclosure until the app's clock is moved on.
    let disclosure_end = rfc3339(ctx.clock.now() + chrono::Duration::seconds(DISCLOSURE_SECONDS));
    let listings = open_listings(ctx, &owner, &operator, &disclosure_end)?;
    let clients = ctx.clients;
    let regs = register_everyone(ctx, &listings, &bidders, &operator)?;
    let codes: Vec<Vec<String>> = regs
        .chunks(clients)
        .map(|c| c.iter().map(|(_, code)| code.clone()).collect())
        .collect();

    // End disclosure by moving the app's clock past it, then sign in again (the tokens are
    // checked against the app's clock).
    let end = DateTime::parse_from_rfc3339(&disclosure_end)?.with_timezone(&Utc);
    let ahead = end - ctx.clock.now() + chrono::Duration::seconds(1);
    if ahead > chrono::Duration::zero() {
        ctx.clock.advance(ahead);
    }
    let operator = login(&mut http, OPERATOR_EMAIL)?;

    // Schedule every auction to start shortly; the scheduler decides the end of disclosure
    // within a tick, until then scheduling is refused as `invalid_state`.
    let starts = schedule_auctions(ctx, &listings, &operator)?;
    let last_start = starts
        .iter()
        .max()
        .copied()
        .ok_or_else(|| anyhow!("no auction scheduled"))?;

    // Auction ids (not in the API's view) and a registration for pgbench.
    let pairs: Vec<IdPair> =
        diesel::sql_query("SELECT listing_id AS a, id AS b FROM auctions").load(pg)?;
    let by_listing: BTreeMap<i64, i64> = pairs.iter().map(|p| (p.a, p.b)).collect();
    let auctions: Vec<i64> = listings
        .iter()
        .map(|l| {
            by_listing
                .get(l)
                .copied()
                .ok_or_else(|| anyhow!("listing {l} has no auction"))
        })
        .collect::<anyhow::Result<_>>()?;
    let first_auction = auctions.iter().min().copied().unwrap_or(0);
    let last_auction = auctions.iter().max().copied().unwrap_or(0);
    if last_auction - first_auction + 1 != LISTINGS as i64 {
        bail!("the auction ids are not consecutive: {first_auction}..={last_auction}");
    }
    // pgbench's bids lead with a registration of the last listing: on the hot listing it
    // belongs to no client, so no client there is refused as leading already.
    let (rid, _) = regs
        .last()
        .cloned()
        .ok_or_else(|| anyhow!("no registration"))?;
    let reg: IdPair = diesel::sql_query(format!(
        "SELECT id AS a, user_id AS b FROM registrations WHERE id = {rid}"
    ))
    .get_result(pg)?;

    // Wait for the start.
    while ctx.clock.now() < last_start + chrono::Duration::milliseconds(200) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = listings.first().copied().unwrap_or(0);
    let a = call(
        &mut http,
        "GET",
        &format!("/api/v1/listings/{first}/auction"),
        None,
        &Value::Null,
        200,
    )?;
    if a["phase"] != "free" {
        bail!("the auction did not open: {a}");
    }

    Ok(World {
        bidder_emails: emails,
        listings,
        auctions,
        first_auction,
        codes,
        registration: (reg.a, reg.b),
    })
}

/// The e-mail verification tokens of `emails`, from the in-memory mail transport.
fn verification_tokens(state: &AppState, emails: &[String]) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let outbox = state.mailer.stub_outbox();
        let found: Vec<Option<String>> = emails
            .iter()
            .map(|email| {
                outbox
                    .iter()
                    .find(|m| &m.to == email && m.text.contains("token="))
                    .and_then(|m| m.text.split_once("token="))
                    .map(|(_, rest)| {
                        rest.chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                            .collect::<String>()
                    })
            })
            .collect();
        if found.iter().all(Option::is_some) {
            return Ok(found.into_iter().flatten().collect());
        }
        if Instant::now() > deadline {
            bail!("verification mails missing after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sign_in_bidders(ctx: &Ctx, world: &World) -> anyhow::Result<Vec<String>> {
    par_map(
        ctx.addr,
        world.bidder_emails.len(),
        SETUP_THREADS,
        |http, i| login(http, &world.bidder_emails[i]),
    )
}

// ---------------------------------------------------------------------------------------
// Load

struct Case {
    name: &'static str,
    what: &'static str,
    hot: bool,
    aid_lo: i64,
    aid_hi: i64,
}

#[derive(Default)]
struct Stats {
    /// Latencies of the accepted bids (201), in microseconds.
    accepted: Vec<u64>,
    /// Latencies of every POST, in microseconds.
    posts: Vec<u64>,
    /// Refused POSTs by problem code.
    refusals: BTreeMap<String, u64>,
    /// Reads of the auction.
    reads: u64,
    /// Reads after which the client did not bid because it led already.
    leading: u64,
    /// I/O failures and unexpected answers to reads.
    errors: u64,
    /// CPU ticks the client threads used in the measured period.
    client_cpu: u64,
    /// CPU of the machine and this process over the measured period, and its wall time.
    cpu: Cpu,
    wall: Duration,
    /// Statements the app's connections started in the measured period.
    statements: usize,
}

/// Money as the API writes it ("10050000.00") in fen.
fn fen(v: &Value) -> anyhow::Result<i64> {
    let text = v.as_str().ok_or_else(|| anyhow!("not an amount: {v}"))?;
    let (yuan, cents) = text.split_once('.').unwrap_or((text, "0"));
    let cents = format!("{cents:0<2}");
    Ok(yuan.parse::<i64>()? * 100 + cents.get(..2).unwrap_or("0").parse::<i64>()?)
}

fn fen_text(f: i64) -> String {
    format!("{}.{:02}", f / 100, f % 100)
}

/// The amount to bid after this read of the auction, or None when `code` leads already.
fn next_amount(auction: &Value, code: &str) -> anyhow::Result<Option<i64>> {
    if auction["leading_bidder_code"].as_str() == Some(code) {
        return Ok(None);
    }
    let amount = match auction.get("current_price").filter(|v| !v.is_null()) {
        Some(current) => fen(current)? + fen(&auction["increment"])?,
        None => fen(&auction["start_price"])?,
    };
    Ok(Some(amount))
}

fn load(
    ctx: &Ctx,
    world: &World,
    tokens: &[String],
    hot: bool,
    measure: Duration,
) -> anyhow::Result<(Stats, QueryTimes)> {
    let from = Instant::now() + WARM_UP;
    let until = from + measure;
    let clients = ctx.clients;
    RUNS.fetch_add(1, Ordering::Relaxed);
    let (parts, queries) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| s.spawn(move || client(ctx.addr, world, tokens, i, clients, hot, from, until)))
            .collect();
        // SQL time counts from the start of the measured period to the last answer.
        std::thread::sleep(from.saturating_duration_since(Instant::now()));
        take_queries();
        STATEMENTS.store(0, Ordering::Relaxed);
        let (cpu_before, wall_before) = (Cpu::now(), Instant::now());
        let parts = handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a client thread panicked")))
            .collect::<anyhow::Result<Vec<Stats>>>();
        let cpu = Cpu::now().since(cpu_before);
        let statements = STATEMENTS.load(Ordering::Relaxed);
        (
            parts,
            (take_queries(), cpu, wall_before.elapsed(), statements),
        )
    });
    let (queries, cpu, wall, statements) = queries;
    let mut all = Stats {
        cpu,
        wall,
        statements,
        ..Stats::default()
    };
    for p in parts? {
        all.accepted.extend(p.accepted);
        all.posts.extend(p.posts);
        for (code, n) in p.refusals {
            *all.refusals.entry(code).or_insert(0) += n;
        }
        all.reads += p.reads;
        all.leading += p.leading;
        all.errors += p.errors;
        all.client_cpu += p.client_cpu;
    }
    all.accepted.sort_unstable();
    all.posts.sort_unstable();
    Ok((all, queries))
}

/// One bidder's closed loop: read the auction, bid one increment over it, repeat.
/// Reads the auction and the amount this client would bid next (`None`: it leads).
fn read_next_amount(http: &mut Http, listing: i64, code: &str) -> anyhow::Result<Option<i64>> {
    http.request(
        "GET",
        &format!("/api/v1/listings/{listing}/auction"),
        None,
        None,
        None,
    )
    .and_then(|r| {
        if r.status == 200 {
            r.json()
        } else {
            Err(anyhow!("{}", r.code()))
        }
    })
    .and_then(|a| next_amount(&a, code))
}

/// Counts a bid's answer (when in the measured period) and moves a spread client on.
/// `position` is `None` for the hot case, where every client stays on one listing. Returns
/// the `minimum_bid` a `bid_too_low` answer names: the client bids it next without reading
/// the auction again.
fn tally_post(
    stats: &mut Stats,
    posted: anyhow::Result<Resp>,
    us: u64,
    counted: bool,
    position: Option<&mut usize>,
) -> Option<i64> {
    let mut next = None;
    match posted {
        Ok(r) if r.status == 201 => {
            if counted {
                stats.accepted.push(us);
                stats.posts.push(us);
            }
            if let Some(position) = position {
                *position += 1;
            }
        }
        Ok(r) => {
            let code = r.code();
            // bid_too_low: someone was faster; read again and retry. A client that leads
            // already (a bid of its own landed meanwhile) does what it does after a read
            // that shows it leading. Anything else is not expected: do not spin on it.
            match code.as_str() {
                "bid_too_low" => {
                    next = r.json().ok().and_then(|p| fen(&p["minimum_bid"]).ok());
                }
                "self_raise_not_allowed" => match position {
                    None => std::thread::sleep(LEADER_PAUSE),
                    Some(position) => *position += 1,
                },
                _ => std::thread::sleep(Duration::from_millis(1)),
            }
            if counted {
                stats.posts.push(us);
                *stats.refusals.entry(code).or_insert(0) += 1;
            }
        }
        Err(_) => {
            if counted {
                stats.errors += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    next
}

#[allow(clippy::too_many_arguments)]
fn client(
    addr: SocketAddr,
    world: &World,
    tokens: &[String],
    me: usize,
    clients: usize,
    hot: bool,
    from: Instant,
    until: Instant,
) -> Stats {
    let mut stats = Stats::default();
    let mut http = Http::new(addr);
    let token = tokens.get(me).map(String::as_str).unwrap_or("");
    let mut position = if hot { 0 } else { me * LISTINGS / clients };
    let pid = std::process::id();
    // Keys are new in every period: a key of an earlier period on the same listing would
    // be answered with that period's bid.
    let run = RUNS.load(Ordering::Relaxed);
    let mut cpu_from = None;
    let mut hint = None;
    for attempt in 0..MAX_ATTEMPTS {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let counted = now >= from;
        if counted && cpu_from.is_none() {
            cpu_from = Some(thread_cpu());
        }
        let l = if hot { 0 } else { position % LISTINGS };
        let listing = world.listings.get(l).copied().unwrap_or(0);
        let code = world
            .codes
            .get(l)
            .and_then(|c| c.get(me))
            .map(String::as_str)
            .unwrap_or("");
        let read = match hint.take() {
            Some(amount) => Ok(Some(amount)),
            None => {
                if counted {
                    stats.reads += 1;
                }
                read_next_amount(&mut http, listing, code)
            }
        };
        let amount = match read {
            Ok(Some(amount)) => amount,
            Ok(None) => {
                if counted {
                    stats.leading += 1;
                }
                if hot {
                    std::thread::sleep(LEADER_PAUSE);
                } else {
                    position += 1;
                }
                continue;
            }
            Err(_) => {
                if counted {
                    stats.errors += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let key = format!("bench-{pid}-{run}-{me}-{attempt}");
        let started = Instant::now();
        let posted = http.request(
            "POST",
            &format!("/api/v1/listings/{listing}/bids"),
            Some(token),
            Some(&key),
            Some(&json!({"amount": fen_text(amount)})),
        );
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let counted = started >= from && started < until;
        let hot_pos = if hot { None } else { Some(&mut position) };
        hint = tally_post(&mut stats, posted, us, counted, hot_pos);
    }
    stats.client_cpu = cpu_from.map_or(0, |c| thread_cpu().saturating_sub(c));
    stats
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied().unwrap_or(0) as f64 / 1_000.0
}

fn print_app(s: &Stats, measure: Duration) {
    let secs = measure.as_secs_f64();
    let refused: u64 = s.refusals.values().sum();
    println!(
        "app POST /api/v1/listings/{{id}}/bids: {:.1} accepted bids/s ({} in {} s), {:.1} refusals/s, {} errors",
        s.accepted.len() as f64 / secs,
        s.accepted.len(),
        measure.as_secs(),
        refused as f64 / secs,
        s.errors
    );
    if !s.refusals.is_empty() {
        let by_code: Vec<String> = s
            .refusals
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect();
        println!("  refusals by code: {}", by_code.join(", "));
    }
    println!(
        "  accepted bid latency ms: p50 {:.2}, p90 {:.2}, p99 {:.2} (max {:.2})",
        percentile_ms(&s.accepted, 0.50),
        percentile_ms(&s.accepted, 0.90),
        percentile_ms(&s.accepted, 0.99),
        percentile_ms(&s.accepted, 1.0)
    );
    println!(
        "  every POST: {:.1}/s, p50 {:.2}, p90 {:.2}, p99 {:.2} ms; {:.1} GET .../auction reads/s, {} of them found the client leading",
        s.posts.len() as f64 / secs,
        percentile_ms(&s.posts, 0.50),
        percentile_ms(&s.posts, 0.90),
        percentile_ms(&s.posts, 0.99),
        s.reads as f64 / secs,
        s.leading
    );
    let app = s.cpu.own.saturating_sub(s.client_cpu);
    let others = s.cpu.machine.saturating_sub(s.cpu.own);
    println!(
        "  CPU in the measured period (100% = one core): machine {:.0}%, app server {:.0}%, \
         load clients {:.0}%, other processes (PostgreSQL) {:.0}%; per accepted bid: app {:.2} ms, \
         PostgreSQL {:.2} ms; per POST: app {:.2} ms, PostgreSQL {:.2} ms",
        pct(s.cpu.machine, s.wall),
        pct(app, s.wall),
        pct(s.client_cpu, s.wall),
        pct(others, s.wall),
        ms_per(app, s.accepted.len()),
        ms_per(others, s.accepted.len()),
        ms_per(app, s.posts.len()),
        ms_per(others, s.posts.len())
    );
}

// ---------------------------------------------------------------------------------------
// CPU time, from /proc (Linux; zeros elsewhere)

/// Clock ticks per second of the /proc counters (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone, Copy, Default)]
struct Cpu {
    /// Busy ticks of the whole machine, summed over cores.
    machine: u64,
    /// This process: the app server and the load clients (or the idle app during pgbench).
    own: u64,
    /// Waited-for children: pgbench.
    children: u64,
}

impl Cpu {
    fn now() -> Self {
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| {
                let line = text.lines().next()?.strip_prefix("cpu ")?.to_string();
                let f: Vec<u64> = line
                    .split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal
                Some([0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum())
            })
            .unwrap_or(0);
        let own = stat_fields("/proc/self/stat");
        Cpu {
            machine,
            own: own.get(11).copied().unwrap_or(0) + own.get(12).copied().unwrap_or(0),
            children: own.get(13).copied().unwrap_or(0) + own.get(14).copied().unwrap_or(0),
        }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            machine: self.machine.saturating_sub(before.machine),
            own: self.own.saturating_sub(before.own),
            children: self.children.saturating_sub(before.children),
        }
    }
}

/// The numeric fields of a /proc stat file after the command name (field 3 on is index 0,
/// so utime is index 11 and stime 12).
fn stat_fields(path: &str) -> Vec<u64> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.rsplit_once(')').map(|(_, rest)| {
                rest.split_whitespace()
                    .map(|f| f.parse().unwrap_or(0))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// CPU ticks the calling thread has used.
fn thread_cpu() -> u64 {
    let f = stat_fields("/proc/thread-self/stat");
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// Ticks as a percentage of one core over `wall`.
fn pct(ticks: u64, wall: Duration) -> f64 {
    100.0 * ticks as f64 / TICKS_PER_SECOND / wall.as_secs_f64().max(1e-9)
}

/// Ticks as milliseconds per unit of work.
fn ms_per(ticks: u64, units: usize) -> f64 {
    ticks as f64 / TICKS_PER_SECOND * 1_000.0 / units.max(1) as f64
}

// ---------------------------------------------------------------------------------------
// pgbench

struct Pgbench {
    /// The script, as the repo names it.
    script: String,
    command: String,
    tps: f64,
    latency_avg_ms: f64,
    transactions: u64,
    failed: u64,
    /// Per-transaction latencies from the log, sorted, in microseconds.
    latencies: Vec<u64>,
    cpu: Cpu,
    wall: Duration,
}

fn pgbench(ctx: &Ctx, script: &str, case: &Case, world: &World) -> anyhow::Result<Pgbench> {
    let logs = tempfile::tempdir()?;
    let prefix = logs.path().join(case.name);
    let c = ctx.clients.to_string();
    let t = ctx.seconds.to_string();
    let (rid, actor) = world.registration;
    let defines = [
        format!("aid_lo={}", case.aid_lo),
        format!("aid_hi={}", case.aid_hi),
        format!("rid={rid}"),
        format!("actor={actor}"),
    ];
    let mut args: Vec<String> = ["-n", "-M", "prepared", "-c", &c, "-j", &c, "-T", &t, "-f"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
    args.push(path.display().to_string());
    for d in &defines {
        args.push("-D".to_string());
        args.push(d.clone());
    }
    let shown = format!(
        "pgbench {} -l --log-prefix=<tmp>/{} <BENCH_DATABASE_URL with database {}>",
        args.join(" ").replace(&path.display().to_string(), script),
        case.name,
        ctx.db_name
    );
    args.push("-l".to_string());
    args.push(format!("--log-prefix={}", prefix.display()));
    args.push(ctx.url.clone());
    let (cpu_before, wall_before) = (Cpu::now(), Instant::now());
    let out = Command::new("pgbench")
        .args(&args)
        .current_dir(logs.path())
        .output()
        .context("cannot run pgbench")?;
    let (cpu, wall) = (Cpu::now().since(cpu_before), wall_before.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("pgbench failed ({}):\n{stdout}\n{stderr}", out.status);
    }
    let value = |prefix: &str| -> Option<f64> {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    let tps = value("tps = ").ok_or_else(|| anyhow!("no tps in pgbench's output:\n{stdout}"))?;
    let latency_avg_ms = value("latency average = ").unwrap_or(f64::NAN);
    let transactions = value("number of transactions actually processed: ").unwrap_or(0.0) as u64;
    let failed = value("number of failed transactions: ").unwrap_or(0.0) as u64;
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(logs.path())? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        for line in text.lines() {
            // client_id transaction_no time script_no time_epoch time_us
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|f| f.parse::<u64>().ok())
            {
                latencies.push(us);
            }
        }
    }
    latencies.sort_unstable();
    Ok(Pgbench {
        script: script.to_string(),
        command: shown,
        tps,
        latency_avg_ms,
        transactions,
        failed,
        latencies,
        cpu,
        wall,
    })
}

fn print_pgbench(b: &Pgbench) {
    println!("{}", b.command);
    println!(
        "pgbench {}: {:.1} tps ({} transactions, {} failed), latency average {:.2} ms, \
         p50 {:.2}, p90 {:.2}, p99 {:.2} ms (from {} logged transactions)",
        b.script,
        b.tps,
        b.transactions,
        b.failed,
        b.latency_avg_ms,
        percentile_ms(&b.latencies, 0.50),
        percentile_ms(&b.latencies, 0.90),
        percentile_ms(&b.latencies, 0.99),
        b.latencies.len()
    );
    let others = b
        .cpu
        .machine
        .saturating_sub(b.cpu.own)
        .saturating_sub(b.cpu.children);
    let n = usize::try_from(b.transactions).unwrap_or(usize::MAX);
    println!(
        "  CPU over the run (100% = one core): machine {:.0}%, pgbench {:.0}%, idle app {:.0}%, \
         other processes (PostgreSQL) {:.0}%; per transaction: PostgreSQL {:.2} ms, pgbench {:.2} ms",
        pct(b.cpu.machine, b.wall),
        pct(b.cpu.children, b.wall),
        pct(b.cpu.own, b.wall),
        pct(others, b.wall),
        ms_per(others, n),
        ms_per(b.cpu.children, n)
    );
}
