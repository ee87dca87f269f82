//! Idle live-auction subscribers: what 10,000 Server-Sent Events streams on one auction cost
//! the server with no bid (CPU and memory), and how fast one bid then reaches all of them.
//!
//! `cargo bench --bench watchers [-- SUBSCRIBERS QUIET_SECONDS]` (default 10,000 and 30 s).
//! It runs on SQLite (one instance) and, when BENCH_DATABASE_URL names a PostgreSQL server,
//! again on PostgreSQL with two instances on one database (a database of its own,
//! `ax_bench_watchers_<pid>`, dropped at the end), the subscribers split between them.
//!
//! Each run seeds the demo data set (`asset-exchange demo`'s, through the library) into a
//! fresh database: its live auction is bidding, its four bidders have published passwords.
//! It then starts the release binary (`asset-exchange serve`, development profile, log level
//! warn, mail kept in memory, `live.sse_max_per_address` raised since every subscriber comes
//! from 127.0.0.1), measures the servers' CPU (utime + stime from /proc/PID/stat) and RSS
//! (/proc/PID/status) over a quiet window before any subscriber, opens the subscribers (at
//! most 256 handshakes at a time) and waits until every one has its opening frames, lets two
//! seconds pass, and measures again over QUIET_SECONDS with no bid. The default window is one
//! keep-alive period (`live.keep_alive_seconds`, 30 s), so one keep-alive round and the safety
//! re-reads fall into it. Then a demo bidder places one bid through the first instance, and
//! every subscriber notes when that bid's frame (`id: SEQ` / `event: bid`) arrives: latency
//! from the moment the POST was sent, p50 / p99 / max, and how many got it within 10 s.
//!
//! Targets (issue 14): ≤ 5 % of one core and ≤ 256 MiB RSS for the servers together, p99 ≤
//! 1 s with every subscriber served; each figure is printed as its ratio to the target (≤ 1
//! meets it). The subscribers run on one thread of this process on the same machine as the
//! servers, so the latency includes reading 10,000 sockets on the client side.
//!
//! The file descriptor limit is raised with `prlimit` when it is below what the subscribers
//! need (the servers inherit it); that needs root or a high enough hard limit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use asset_exchange::config::{AppEnv, Settings};
use asset_exchange::demo::data;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

const DEFAULT_SUBSCRIBERS: usize = 10_000;
const DEFAULT_QUIET_SECONDS: u64 = 30;
const BASELINE_SECONDS: u64 = 10;
const HANDSHAKES_AT_ONCE: usize = 256;
const DELIVERY_WAIT: Duration = Duration::from_secs(10);
const CPU_TARGET_PERCENT: f64 = 5.0;
const RSS_TARGET_MIB: f64 = 256.0;
const P99_TARGET_MS: f64 = 1000.0;
const JWT_SECRET: &str = "watchers-benchmark-only-0123456789abcdef";
const PII_SALT: &str = "watchers-bench-salt-0123";
const AUDIT_SIGNING_KEY: &str = "d2F0Y2hlcnMtYmVuY2gtc2lnbmluZy1rZXktMzJiISE=";

struct Options {
    subscribers: usize,
    quiet: Duration,
}

fn options() -> anyhow::Result<Options> {
    // `cargo bench` passes `--bench`; only the numbers are ours.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let subscribers = match numbers.first() {
        Some(&n) => usize::try_from(n)?,
        None => DEFAULT_SUBSCRIBERS,
    };
    let quiet = numbers.get(1).copied().unwrap_or(DEFAULT_QUIET_SECONDS);
    if !(2..=50_000).contains(&subscribers) || !(1..=600).contains(&quiet) {
        bail!("usage: -- SUBSCRIBERS (2..50000) QUIET_SECONDS (1..600)");
    }
    Ok(Options {
        subscribers,
        quiet: Duration::from_secs(quiet),
    })
}

fn main() -> anyhow::Result<()> {
    let opts = options()?;
    raise_nofile(opts.subscribers + 4096)?;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_asset-exchange"));
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("watchers.db").display());
    actix_web::rt::System::new().block_on(run("SQLite", &binary, &sqlite, 1, &opts))?;
    match std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(base) => {
            let db = PgDatabase::create(&base)?;
            let url = db.url.clone();
            actix_web::rt::System::new().block_on(run("PostgreSQL", &binary, &url, 2, &opts))?;
        }
        None => println!(
            "\nPostgreSQL with two instances: skipped, BENCH_DATABASE_URL is not set \
             (BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench watchers)."
        ),
    }
    Ok(())
}

/// One backend: seed, start `instances` servers, measure, stop.
async fn run(
    backend: &str,
    binary: &PathBuf,
    url: &str,
    instances: usize,
    opts: &Options,
) -> anyhow::Result<()> {
    let listing = seed(url).await?;
    let mut fleet = Fleet::default();
    for _ in 0..instances {
        fleet.start(binary, url)?;
    }
    for s in &fleet.servers {
        wait_ready(s.addr).await?;
    }
    println!(
        "\nwatchers — {backend}, {instances} instance(s) (pids {}), {} subscribers on listing {listing}",
        fleet.pids(),
        opts.subscribers
    );
    // Mail queued by the seeding goes out first (to memory); then the baseline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let base = fleet.sample(Duration::from_secs(BASELINE_SECONDS)).await?;
    println!(
        "  no subscribers ({BASELINE_SECONDS} s): CPU {:.2} % of one core, RSS {:.1} MiB",
        base.cpu_percent, base.rss_mib
    );
    let shared = Arc::new(Shared::default());
    let started = Instant::now();
    let path: Arc<str> = format!("/api/v1/listings/{listing}/auction/events").into();
    let gate = Arc::new(Semaphore::new(HANDSHAKES_AT_ONCE));
    for i in 0..opts.subscribers {
        let addr = fleet.servers[i % instances].addr;
        let permit = gate.clone().acquire_owned().await?;
        actix_web::rt::spawn(subscriber(addr, path.clone(), shared.clone(), permit));
    }
    let opened = wait_connected(&shared, opts.subscribers).await;
    println!(
        "  {opened}/{} subscribers connected with their opening frames in {:.1} s ({} failed)",
        opts.subscribers,
        started.elapsed().as_secs_f64(),
        shared.failed.load(Ordering::SeqCst)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = fleet.sample(opts.quiet).await?;
    report_idle(&idle, opts.quiet, opened);
    let seq = place_bid(fleet.servers[0].addr, listing, &shared).await?;
    let delivered = wait_delivered(&shared, opened).await;
    report_delivery(seq, &delivered, opened);
    fleet.stop();
    Ok(())
}

fn report_idle(idle: &Sample, quiet: Duration, opened: usize) {
    println!(
        "  {opened} idle subscribers, no bid ({} s): CPU {:.2} % of one core → {:.3} of the target (≤ {CPU_TARGET_PERCENT} %)",
        quiet.as_secs(),
        idle.cpu_percent,
        idle.cpu_percent / CPU_TARGET_PERCENT
    );
    println!(
        "  {:>w$}  RSS {:.1} MiB → {:.3} of the target (≤ {RSS_TARGET_MIB} MiB)",
        "",
        idle.rss_mib,
        idle.rss_mib / RSS_TARGET_MIB,
        w = opened.to_string().len() + 28
    );
}

fn report_delivery(seq: i64, latencies: &[Duration], opened: usize) {
    let ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let pct = |p: f64| -> f64 {
        if ms.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
        ms[rank.clamp(1, ms.len()) - 1]
    };
    let (p50, p99, max) = (pct(50.0), pct(99.0), ms.last().copied().unwrap_or(f64::NAN));
    println!(
        "  one bid (seq {seq}) reached {}/{opened} subscribers: p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms → p99 {:.3} of the target (≤ 1 s){}",
        ms.len(),
        p99 / P99_TARGET_MS,
        if ms.len() == opened {
            ""
        } else {
            " — NOT ALL RECEIVED IT"
        }
    );
}

// ---------------------------------------------------------------------------------------
// Subscribers

#[derive(Default)]
struct Shared {
    connected: AtomicUsize,
    failed: AtomicUsize,
    /// The seq of the bid to look for (0 until it is placed).
    want: AtomicI64,
    sent_at: OnceLock<Instant>,
    latencies: Mutex<Vec<Duration>>,
}

/// One SSE subscriber: connects, waits for its opening frames, then reads until the end,
/// noting when the wanted bid arrives.
async fn subscriber(
    addr: SocketAddr,
    path: Arc<str>,
    shared: Arc<Shared>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Ok(mut s) = open_stream(addr, &path).await else {
        shared.failed.fetch_add(1, Ordering::SeqCst);
        return;
    };
    shared.connected.fetch_add(1, Ordering::SeqCst);
    drop(permit);
    let mut chunk = vec![0u8; 4096];
    let mut window: Vec<u8> = Vec::with_capacity(4096 + 64);
    let mut marker = Vec::new();
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let want = shared.want.load(Ordering::SeqCst);
        if want == 0 {
            continue;
        }
        if marker.is_empty() {
            marker = format!("id: {want}\nevent: bid\n").into_bytes();
        }
        window.extend_from_slice(&chunk[..n]);
        if window.windows(marker.len()).any(|w| w == marker) {
            if let Some(at) = shared.sent_at.get() {
                shared
                    .latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(at.elapsed());
            }
            // Stay connected (and read) until the run ends.
            while let Ok(n) = s.read(&mut chunk).await {
                if n == 0 {
                    return;
                }
            }
            return;
        }
        let keep = window.len().saturating_sub(marker.len());
        window.drain(..keep);
    }
}

/// Sends the GET and reads until the opening state frame (`phase` or `closed`) arrived.
async fn open_stream(addr: SocketAddr, path: &str) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await??;
        if n == 0 {
            bail!("closed before the opening frames");
        }
        got.extend_from_slice(&buf[..n]);
        if !got.starts_with(b"HTTP/1.1 200") && got.len() >= 12 {
            bail!("{}", String::from_utf8_lossy(&got));
        }
        let text = String::from_utf8_lossy(&got);
        if text.contains("event: phase\n") || text.contains("event: closed\n") {
            return Ok(s);
        }
    }
    bail!("no opening frames within 60 s")
}

async fn wait_connected(shared: &Shared, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let (ok, failed) = (
            shared.connected.load(Ordering::SeqCst),
            shared.failed.load(Ordering::SeqCst),
        );
        if ok + failed >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shared.connected.load(Ordering::SeqCst)
}

async fn wait_delivered(shared: &Shared, n: usize) -> Vec<Duration> {
    let deadline = Instant::now() + DELIVERY_WAIT;
    loop {
        let done = shared.latencies.lock().map(|l| l.len()).unwrap_or(0);
        if done >= n || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut l = shared
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    l.sort();
    l
}

// ---------------------------------------------------------------------------------------
// The bid

/// Signs in as the demo's bidders in turn until one may raise; places one bid and returns
/// its seq. Subscribers look for it from just before the POST is sent.
async fn place_bid(addr: SocketAddr, listing: i64, shared: &Shared) -> anyhow::Result<i64> {
    let auction = http(
        addr,
        "GET",
        &format!("/api/v1/listings/{listing}/auction"),
        None,
        None,
    )
    .await?
    .1;
    let seq = auction["bid_count"].as_i64().unwrap_or(0) + 1;
    let fen = |v: &Value| v.as_str().map(to_fen).transpose();
    let increment = fen(&auction["increment"])?.ok_or_else(|| anyhow!("no increment"))?;
    let amount = match fen(&auction["current_price"])? {
        Some(p) => p + increment,
        None => fen(&auction["start_price"])?.ok_or_else(|| anyhow!("no start price"))?,
    };
    let body = json!({"amount": format!("{}.{:02}", amount / 100, amount % 100)});
    for bidder in data::BIDDERS {
        let login = json!({"email": bidder.email, "password": data::BIDDER_PASSWORD});
        let (_, t) = http(addr, "POST", "/api/v1/auth/login", None, Some(&login)).await?;
        let Some(token) = t["access_token"].as_str() else {
            continue;
        };
        shared.want.store(seq, Ordering::SeqCst);
        let _ = shared.sent_at.set(Instant::now());
        let path = format!("/api/v1/listings/{listing}/bids");
        let (status, answer) = http(addr, "POST", &path, Some(token), Some(&body)).await?;
        if status == 201 {
            return Ok(answer["seq"].as_i64().unwrap_or(seq));
        }
    }
    bail!("no demo bidder could bid on listing {listing}")
}

fn to_fen(s: &str) -> anyhow::Result<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<2}");
    Ok(whole.parse::<i64>()? * 100 + frac[..2].parse::<i64>()?)
}

/// One HTTP/1.1 request on its own connection; (status, JSON body or null).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut s = TcpStream::connect(addr).await?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nIdempotency-Key: watchers-{}\r\n",
        body.len(),
        std::process::id()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await??;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("not HTTP: {text}"))?;
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok((status, json))
}

async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..600 {
        if let Ok((200, _)) = http(addr, "GET", "/health/ready", None, None).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server at {addr} did not become ready within 60 s")
}

// ---------------------------------------------------------------------------------------
// Servers and their resource use

/// The settings of the seeding and of the servers: the development profile with fixed
/// secrets (nothing written under ./data).
fn env_vars(url: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", url),
        ("APP__AUTH__JWT_SECRET", JWT_SECRET),
        ("APP__AUDIT__PII_SALT", PII_SALT),
        ("APP__AUDIT__SIGNING_KEY", AUDIT_SIGNING_KEY),
        ("APP__MAIL__TRANSPORT", "stub"),
        ("APP__LOG__LEVEL", "warn"),
        ("APP__LIVE__SSE_MAX_PER_ADDRESS", "1000000"),
        ("APP__LIVE__SSE_MAX_PER_INSTANCE", "1000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Seeds the demo data set; returns the live auction's listing.
async fn seed(url: &str) -> anyhow::Result<i64> {
    let settings = Settings::load_from(&config_dir(), AppEnv::Development, env_vars(url))?;
    let seeded = asset_exchange::demo::seed_database(settings).await?;
    seeded
        .live_listing_id
        .ok_or_else(|| anyhow!("the demo data set has no live auction"))
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

#[derive(Default)]
struct Fleet {
    servers: Vec<Server>,
}

struct Sample {
    cpu_percent: f64,
    rss_mib: f64,
}

impl Fleet {
    fn start(&mut self, binary: &PathBuf, url: &str) -> anyhow::Result<()> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(binary)
            .arg("serve")
            .envs(env_vars(url))
            .env("APP_ENV", "development")
            .env("APP_CONFIG_DIR", config_dir())
            .env("APP__SERVER__HOST", "127.0.0.1")
            .env("APP__SERVER__PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the server")?;
        self.servers.push(Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        });
        Ok(())
    }

    fn pids(&self) -> String {
        let pids: Vec<String> = self
            .servers
            .iter()
            .map(|s| s.child.id().to_string())
            .collect();
        pids.join(", ")
    }

    /// CPU of all servers over `window` (percent of one core) and their RSS at its end.
    async fn sample(&self, window: Duration) -> anyhow::Result<Sample> {
        let ticks = |f: &Fleet| -> anyhow::Result<u64> {
            f.servers.iter().map(|s| cpu_ticks(s.child.id())).sum()
        };
        let (t0, c0) = (Instant::now(), ticks(self)?);
        tokio::time::sleep(window).await;
        let (elapsed, c1) = (t0.elapsed().as_secs_f64(), ticks(self)?);
        let rss_kib: u64 = self
            .servers
            .iter()
            .map(|s| rss_kib(s.child.id()))
            .sum::<anyhow::Result<u64>>()?;
        Ok(Sample {
            cpu_percent: (c1 - c0) as f64 / clock_ticks_per_second()? / elapsed * 100.0,
            rss_mib: rss_kib as f64 / 1024.0,
        })
    }

    fn stop(&mut self) {
        for s in &mut self.servers {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
        self.servers.clear();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: the fields that follow come after its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("odd /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    let utime: u64 = fields.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
    let stime: u64 = fields.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
    Ok(utime + stime)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))
}

fn clock_ticks_per_second() -> anyhow::Result<f64> {
    static TICKS: OnceLock<f64> = OnceLock::new();
    if let Some(t) = TICKS.get() {
        return Ok(*t);
    }
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    let t: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
    Ok(*TICKS.get_or_init(|| t))
}

/// Raises this process's open-file limit to at least `need` (children inherit it).
fn raise_nofile(need: usize) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if soft >= need {
        return Ok(());
    }
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={need}:{need}"))
        .status()
        .context("prlimit (util-linux) is needed to raise the open-file limit")?;
    if !status.success() {
        bail!("cannot raise the open-file limit to {need} (run as root or raise it yourself)");
    }
    Ok(())
}

/// A database of this run's own on the BENCH_DATABASE_URL server, dropped at the end.
struct PgDatabase {
    base: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(base: &str) -> anyhow::Result<Self> {
        use diesel::{Connection, RunQueryDsl};
        if !(base.starts_with("postgres://") || base.starts_with("postgresql://")) {
            bail!("BENCH_DATABASE_URL must be a postgres:// URL");
        }
        let name = format!("ax_bench_watchers_{}", std::process::id());
        let mut admin = diesel::PgConnection::establish(base)?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)?;
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
        let (head, tail) = base.split_at(
            base.rfind('/')
                .ok_or_else(|| anyhow!("no database in URL"))?,
        );
        let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
        Ok(Self {
            base: base.to_string(),
            url: format!("{head}/{name}{query}"),
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.base) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}
