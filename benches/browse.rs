//! Public browse throughput of `GET /api/v1/listings` over 10,000 listings, next to a
//! bare actix-web endpoint on the same machine that serves the same 20-item page from
//! memory, as a ratio.
//!
//! `cargo bench --bench browse` (optionally `-- SECONDS CONNECTIONS`, default 10 and 32).
//!
//! It boots the real application (test profile, one HTTP worker per core, no audit
//! checkpoints) on a fresh SQLite file in a temporary folder, or on PostgreSQL when
//! BENCH_DATABASE_URL is set; that URL must name an EMPTY database (it is migrated and
//! seeded, and nothing is removed afterwards). It seeds the listings through the store layer
//! in a few big transactions, fetches the first public page (`?per_page=20`) once, starts a
//! bare `GET /page` server with the same worker count in the same process that serialises
//! that page (parsed into memory) into each answer, so the baseline does the JSON work of a
//! page without any database, and then drives each target with a closed loop of keep-alive HTTP/1.1
//! connections to 127.0.0.1 (one client thread per connection): a warm-up of 2 s whose
//! results are dropped, then the measured period. Only responses started inside the measured
//! period count; any status but 200, and any I/O failure, counts as an error.
//!
//! Client, servers and database share the machine's cores, so the absolute numbers are a
//! floor; the ratio to `/page` is the figure to compare between runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context, anyhow, bail};
use asset_exchange::config::{AppEnv, Settings};
use asset_exchange::domain::clock::SystemClock;
use asset_exchange::domain::listing::ListingKind;
use asset_exchange::error::AppError;
use asset_exchange::startup::Application;
use asset_exchange::store::listings::{self as store, NewListing};
use asset_exchange::store::models::{NewOrganization, NewUser, to_db};
use asset_exchange::store::schema::listings as l;
use asset_exchange::store::{Conn, Db, users};
use base64::Engine;
use chrono::{DateTime, Datelike, Duration as Span, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

const LISTINGS: usize = 10_000;
/// Listings written per transaction while seeding.
const SEED_BATCH: usize = 2_500;
const WARM_UP: Duration = Duration::from_secs(2);
const DEFAULT_SECONDS: u64 = 10;
const DEFAULT_CONNECTIONS: usize = 32;
const MAX_SECONDS: u64 = 600;
const MAX_CONNECTIONS: usize = 512;
/// How long one request may take before the client gives up on the connection.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Guards against a runaway response head.
const MAX_HEADER_LINES: usize = 100;
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Statuses the seeded listings get, with weights (out of 100). `suspended` is left out on
/// purpose: the scheduler would start flagging old suspensions during the run.
const STATUSES: [(&str, u32); 8] = [
    ("draft", 10),
    ("disclosure", 40),
    ("no_sale", 10),
    ("negotiation", 10),
    ("auction_scheduled", 10),
    ("awarded", 5),
    ("closed", 10),
    ("failed", 5),
];
const SELLERS: [&str; 4] = [
    "某市国有资产经营公司",
    "某省交通投资集团有限公司",
    "某县城市建设投资有限公司",
    "某市水务集团有限公司",
];
/// What is sold; `厂房` is one subject in six, so `q=厂房` selects about a sixth.
const SUBJECTS: [&str; 6] = ["厂房", "仓库", "办公楼", "商铺", "车辆", "土地使用权"];

struct Options {
    seconds: u64,
    connections: usize,
}

fn options() -> anyhow::Result<Options> {
    // `cargo bench` passes `--bench`; only the numbers are ours.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = numbers.first().copied().unwrap_or(DEFAULT_SECONDS);
    let connections = numbers
        .get(1)
        .map(|&n| usize::try_from(n))
        .transpose()?
        .unwrap_or(DEFAULT_CONNECTIONS);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        bail!("the duration must be 1 to {MAX_SECONDS} seconds, not {seconds}");
    }
    if !(1..=MAX_CONNECTIONS).contains(&connections) {
        bail!("the concurrency must be 1 to {MAX_CONNECTIONS} connections, not {connections}");
    }
    Ok(Options {
        seconds,
        connections,
    })
}

fn main() -> anyhow::Result<()> {
    let opts = options()?;
    actix_web::rt::System::new().block_on(run(opts))
}

async fn run(opts: Options) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cores.max(2);
    let dir = tempfile::tempdir()?;
    let pg_url = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let (url, backend) = match pg_url {
        Some(u) => (u, "PostgreSQL"),
        None => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            "SQLite",
        ),
    };

    print_header(&opts, cores, workers, backend);

    let settings = bench_settings(url, workers)?;
    let prefix = settings.listing.project_no_prefix.clone();

    let app = Application::build_with_clock(settings, Arc::new(SystemClock)).await?;
    let app_port = app.port();
    let db = app.state().db.clone();
    let running = app.spawn();

    let started = Instant::now();
    let (public, drafts) = tokio::task::spawn_blocking(move || seed(&db, &prefix, Utc::now()))
        .await
        .context("seeding task failed")??;
    println!(
        "seeded {LISTINGS} listings ({public} public, {drafts} drafts) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let first_page = Target::new("first page", app_port, FIRST_PAGE.to_string());
    let page = tokio::task::spawn_blocking(move || fetch(&first_page))
        .await
        .context("fetching the first page failed")??;
    let page = web::Data::new(page);
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let ping_port = listener.local_addr()?.port();
    let ping_server = HttpServer::new(move || {
        App::new()
            .app_data(page.clone())
            .route("/page", web::get().to(bare_page))
    })
    .workers(workers)
    .disable_signals()
    .listen(listener)?
    .run();
    let ping_handle = ping_server.handle();
    actix_web::rt::spawn(ping_server);

    let targets = targets(ping_port, app_port);
    let measure = Duration::from_secs(opts.seconds);
    let connections = opts.connections;
    let results = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(Target, Stats)>> {
        let mut out = Vec::new();
        for t in targets {
            probe(&t)?;
            let stats = load(&t, connections, measure)?;
            out.push((t, stats));
        }
        Ok(out)
    })
    .await
    .context("load task failed")??;

    print_results(&results, measure);

    ping_handle.stop(true).await;
    drop(running);
    drop(dir);
    Ok(())
}

/// What the run is: command, machine and setup.
fn print_header(opts: &Options, cores: usize, workers: usize, backend: &str) {
    println!("browse benchmark");
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!(
        "machine: {cores} cores ({}), {} {}",
        cpu_model(),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    println!(
        "setup: {LISTINGS} listings on {backend}, {workers} HTTP workers per server, \
         {} connections, {} s per target after a {} s warm-up",
        opts.connections,
        opts.seconds,
        WARM_UP.as_secs()
    );
}

/// The test profile, on `url`, with throw-away secrets and no checkpoint job.
fn bench_settings(url: String, workers: usize) -> anyhow::Result<Settings> {
    let config_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings =
        Settings::load_from(&config_dir, AppEnv::Test, Vec::<(String, String)>::new())?;
    settings.database.url = url;
    settings.auth.jwt_secret = "browse-benchmark-only-0123456789abcdef".to_string().into();
    settings.audit.signing_key = base64::engine::general_purpose::STANDARD
        .encode([42u8; 32])
        .into();
    settings.audit.checkpoint_interval_seconds = 0;
    settings.server.workers = workers;
    Ok(settings)
}

/// The page the bare endpoint serves.
const FIRST_PAGE: &str = "/api/v1/listings?per_page=20";

/// The bare actix-web baseline and three listing queries.
fn targets(ping_port: u16, app_port: u16) -> Vec<Target> {
    vec![
        Target::new("GET /page (bare, in memory)", ping_port, "/page".to_string()),
        Target::new(
            "kind + price range",
            app_port,
            "/api/v1/listings?kind=equity_transfer&min_price=1000000&max_price=50000000&per_page=20"
                .to_string(),
        ),
        Target::new(
            "q=厂房 (title search)",
            app_port,
            format!("/api/v1/listings?q={}&per_page=20", encode("厂房")),
        ),
        Target::new(
            "page=50 (deep page)",
            app_port,
            "/api/v1/listings?page=50&per_page=20".to_string(),
        ),
    ]
}

/// The table of every target, then each one against the baseline.
fn print_results(results: &[(Target, Stats)], measure: Duration) {
    println!();
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>8}  path",
        "target", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (t, s) in results {
        println!(
            "{} {:>10.0} {:>9.2} {:>9.2} {:>8}  {}",
            pad(t.name),
            s.rate(measure),
            s.percentile_ms(0.50),
            s.percentile_ms(0.99),
            s.errors,
            t.path
        );
    }
    println!();
    if let Some((_, base)) = results.first() {
        let base_rate = base.rate(measure);
        for (t, s) in results.iter().skip(1) {
            let ratio = if base_rate > 0.0 {
                s.rate(measure) / base_rate
            } else {
                0.0
            };
            println!(
                "{} {:.3} of /page's throughput ({:.1}x slower)",
                pad(t.name),
                ratio,
                if ratio > 0.0 {
                    1.0 / ratio
                } else {
                    f64::INFINITY
                }
            );
        }
    }
}

/// Display width of a label whose CJK characters take two columns, padded to 28.
fn pad(label: &str) -> String {
    let width: usize = label
        .chars()
        .map(|c| if c.is_ascii() { 1 } else { 2 })
        .sum();
    format!("{label}{}", " ".repeat(28usize.saturating_sub(width)))
}

/// The first page of the browse, serialised from memory on every request.
async fn bare_page(page: web::Data<serde_json::Value>) -> HttpResponse {
    HttpResponse::Ok().json(&**page)
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

/// Percent-encodes everything but the unreserved characters of RFC 3986.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Seeding

/// A small deterministic generator (xorshift64*), so every run seeds the same rows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Timestamps as the application stores them (whole microseconds, naive UTC).
fn db_time(t: DateTime<Utc>) -> NaiveDateTime {
    to_db(t - Span::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1_000)))
}

fn pick_status(rng: &mut Rng) -> &'static str {
    let total: u32 = STATUSES.iter().map(|(_, w)| w).sum();
    let mut roll = u32::try_from(rng.below(u64::from(total))).unwrap_or(0);
    for (status, weight) in STATUSES {
        if roll < weight {
            return status;
        }
        roll -= weight;
    }
    "disclosure"
}

/// One organisation, one enterprise user and the listings; returns (public, drafts).
fn seed(db: &Db, prefix: &str, now: DateTime<Utc>) -> anyhow::Result<(usize, usize)> {
    let created = db_time(now);
    let (org_id, user_id) = seed_seller(db, created)?;
    let batch = Batch {
        prefix,
        org_id,
        user_id,
        created,
        year: now.year(),
        appraisal_date: (now - Span::days(30)).date_naive(),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut public, mut drafts) = (0, 0);
    let mut next = 0usize;
    while next < LISTINGS {
        let end = (next + SEED_BATCH).min(LISTINGS);
        let (p, d) = db
            .tx_blocking(|c| {
                let (mut p, mut d) = (0, 0);
                for i in next..end {
                    if batch.listing(c, &mut rng, i)? {
                        p += 1;
                    } else {
                        d += 1;
                    }
                }
                Ok::<_, AppError>((p, d))
            })
            .map_err(|e| anyhow!("seeding listings {next}..{end} failed: {e}"))?;
        public += p;
        drafts += d;
        next = end;
    }
    Ok((public, drafts))
}

/// The one seller organisation and its user.
fn seed_seller(db: &Db, created: NaiveDateTime) -> anyhow::Result<(i64, i64)> {
    let body = "91350100BENCH0001";
    let check = asset_exchange::domain::credit_code::check_character(body)
        .ok_or_else(|| anyhow!("no check character for {body}"))?;
    let credit_code = format!("{body}{check}");
    db.tx_blocking(|c| {
        let org = users::insert_organization(
            c,
            &NewOrganization {
                name: "某市国有资产经营公司",
                credit_code: &credit_code,
                created_at: created,
                supervisory_body_id: None,
            },
        )?;
        let user = users::insert_user(
            c,
            &NewUser {
                email: "seller@bench.example",
                password_hash: "not-a-real-hash",
                name: "基准测试卖方",
                role: "enterprise",
                organization_id: Some(org.id),
                phone: None,
                locale: "zh-CN",
                created_at: created,
                updated_at: created,
            },
        )?;
        Ok((org.id, user.id))
    })
    .map_err(|e| anyhow!("cannot create the seller: {e}"))
}

/// What every seeded listing shares.
struct Batch<'a> {
    prefix: &'a str,
    org_id: i64,
    user_id: i64,
    created: NaiveDateTime,
    year: i32,
    appraisal_date: NaiveDate,
}

/// The title of the `n`th listing of a kind.
fn title_of(kind: ListingKind, seller: &str, subject: &str, n: usize) -> String {
    match kind {
        ListingKind::EquityTransfer => format!("{seller}第{n}号{subject}所属公司股权转让"),
        ListingKind::CapitalIncrease => format!("{seller}第{n}号{subject}项目增资扩股"),
        ListingKind::AssetTransfer => format!("{seller}第{n}号{subject}转让"),
    }
}

impl Batch<'_> {
    /// Listing `i`, drawn from `rng`; true if it is public (in or after disclosure).
    fn listing(&self, c: &mut Conn, rng: &mut Rng, i: usize) -> Result<bool, AppError> {
        let Batch {
            prefix,
            org_id,
            user_id,
            created,
            year,
            appraisal_date,
        } = *self;
        let kind = ListingKind::ALL[i % ListingKind::ALL.len()];
        let subject = SUBJECTS[usize::try_from(rng.below(6)).unwrap_or(0)];
        let seller = SELLERS[usize::try_from(rng.below(4)).unwrap_or(0)];
        let title = title_of(kind, seller, subject, i + 1);
        let description =
            format!("{title}。标的位于某市经济技术开发区，权属清晰，详见信息披露公告及评估报告。");
        // Log-uniform over 100,000 .. 100,000,000 yuan, whole thousands of yuan.
        let yuan = 10f64.powf(5.0 + 3.0 * rng.unit());
        let thousands = (yuan / 1_000.0).round().max(100.0) as i64;
        let price = thousands * 1_000 * 100;
        let appraised = price / 105 * 100;
        let deposit = price / 10 / 100 * 100;
        let increment = (price / 100 / 100_000).max(1) * 100_000;
        let status = pick_status(rng);
        let age = Span::minutes(i64::try_from(LISTINGS - i).unwrap_or(0) * 7);
        let at = created - age;
        let project_no = store::next_project_no(c, prefix, kind.code(), year)?;
        let row = store::insert(
            c,
            &NewListing {
                project_no: &project_no,
                organization_id: org_id,
                created_by: user_id,
                kind: kind.as_str(),
                title: &title,
                description: &description,
                status,
                appraised_value: appraised,
                appraisal_date,
                listing_price: price,
                deposit,
                increment,
                disclosure_working_days: 20,
                free_bidding_seconds: 3600,
                countdown_seconds: 300,
                allow_self_raise: false,
                runner_up_offer: false,
                bidding_method: "english",
                preemption: "none",
                consent_document: None,
                round: 1,
                created_at: at,
                updated_at: at,
            },
        )?;
        // Public listings: a disclosure still running, or one already decided,
        // so reads never have to count eligible bidders.
        let disclosure = match status {
            "draft" => None,
            "disclosure" => Some((created - Span::days(5), created + Span::days(25), None)),
            _ => Some((
                created - Span::days(60),
                created - Span::days(30),
                Some(created - Span::days(30)),
            )),
        };
        if let Some((start, end, decided)) = disclosure {
            asset_exchange::with_conn!(c, conn => diesel::update(l::table.find(row.id))
                    .set((
                        l::disclosure_start.eq(Some(start)),
                        l::disclosure_end.eq(Some(end)),
                        l::disclosure_decided_at.eq(decided),
                        l::first_disclosure_at.eq(Some(start)),
                    ))
                    .execute(conn))?;
            return Ok(true);
        }
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------
// Load

struct Target {
    name: &'static str,
    addr: SocketAddr,
    path: String,
}

impl Target {
    fn new(name: &'static str, port: u16, path: String) -> Self {
        Target {
            name,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            path,
        }
    }
}

/// One keep-alive HTTP/1.1 connection that sends GETs and reads whole responses.
struct Http {
    reader: BufReader<TcpStream>,
    request: Vec<u8>,
    line: Vec<u8>,
    body: Vec<u8>,
}

impl Http {
    fn connect(addr: SocketAddr, path: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nUser-Agent: browse-bench\r\n\r\n"
        )
        .into_bytes();
        Ok(Http {
            reader: BufReader::with_capacity(64 * 1024, stream),
            request,
            line: Vec::with_capacity(256),
            body: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends the request and reads the response into `self.body`; returns the status and
    /// whether the connection may be reused.
    fn get(&mut self) -> anyhow::Result<(u16, bool)> {
        self.reader.get_mut().write_all(&self.request)?;
        self.read_line()?;
        let status_line = std::str::from_utf8(&self.line)?.trim_end();
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
            self.read_line()?;
            let line = std::str::from_utf8(&self.line)?.trim_end();
            if line.is_empty() {
                break;
            }
            lines += 1;
            if lines > MAX_HEADER_LINES {
                bail!("too many header lines");
            }
            let Some((name, value)) = line.split_once(':') else {
                bail!("bad header line {line:?}");
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
        self.body.clear();
        if chunked {
            self.read_chunked()?;
        } else if let Some(n) = length {
            self.read_exact_body(n)?;
        } else if status != 204 && status != 304 {
            // Body delimited by the end of the connection: not expected here; give the
            // connection up instead of guessing.
            keep_alive = false;
        }
        Ok((status, keep_alive))
    }

    fn read_line(&mut self) -> anyhow::Result<()> {
        self.line.clear();
        let n = self.reader.read_until(b'\n', &mut self.line)?;
        if n == 0 {
            bail!("connection closed by the server");
        }
        Ok(())
    }

    fn read_exact_body(&mut self, n: usize) -> anyhow::Result<()> {
        if self.body.len() + n > MAX_BODY_BYTES {
            bail!("response body larger than {MAX_BODY_BYTES} bytes");
        }
        let start = self.body.len();
        self.body.resize(start + n, 0);
        self.reader.read_exact(&mut self.body[start..])?;
        Ok(())
    }

    fn read_chunked(&mut self) -> anyhow::Result<()> {
        loop {
            self.read_line()?;
            let line = std::str::from_utf8(&self.line)?.trim_end();
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| anyhow!("bad chunk size {line:?}"))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    self.read_line()?;
                    if self.line == b"\r\n" || self.line == b"\n" {
                        return Ok(());
                    }
                }
            }
            self.read_exact_body(size)?;
            self.read_line()?;
        }
    }
}

/// The JSON answer of `t`, which must be a page of 20 items.
fn fetch(t: &Target) -> anyhow::Result<serde_json::Value> {
    let mut http = Http::connect(t.addr, &t.path)?;
    let (status, _) = http.get()?;
    if status != 200 {
        bail!("{} answered {status}", t.path);
    }
    let v: serde_json::Value = serde_json::from_slice(&http.body)?;
    let items = v
        .get("items")
        .and_then(|i| i.as_array())
        .map_or(0, Vec::len);
    if items != 20 {
        bail!("{} gave {items} items, not 20", t.path);
    }
    Ok(v)
}

/// One request outside the measurement, to show what the target answers.
fn probe(t: &Target) -> anyhow::Result<()> {
    let mut http = Http::connect(t.addr, &t.path)?;
    let (status, _) = http.get()?;
    if status != 200 {
        bail!(
            "{} answered {status}: {}",
            t.path,
            String::from_utf8_lossy(&http.body)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&http.body)?;
    match (v.get("total"), v.get("items").and_then(|i| i.as_array())) {
        (Some(total), Some(items)) => println!(
            "probe {}: 200, total {total}, {} items, {} bytes",
            t.name,
            items.len(),
            http.body.len()
        ),
        _ => println!("probe {}: 200, {} bytes: {v}", t.name, http.body.len()),
    }
    Ok(())
}

#[derive(Default)]
struct Stats {
    /// Latencies of the 200 responses, in microseconds.
    latencies: Vec<u64>,
    errors: u64,
}

impl Stats {
    fn rate(&self, period: Duration) -> f64 {
        self.latencies.len() as f64 / period.as_secs_f64()
    }

    /// Nearest-rank percentile of the sorted latencies, in milliseconds.
    fn percentile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let n = self.latencies.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies[rank - 1] as f64 / 1_000.0
    }
}

/// `connections` closed loops against `t`: warm-up, then `measure`.
fn load(t: &Target, connections: usize, measure: Duration) -> anyhow::Result<Stats> {
    let from = Instant::now() + WARM_UP;
    let until = from + measure;
    let parts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections)
            .map(|_| s.spawn(move || client(t, from, until)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a client thread panicked")))
            .collect::<anyhow::Result<Vec<Stats>>>()
    })?;
    let mut all = Stats::default();
    for p in parts {
        all.latencies.extend(p.latencies);
        all.errors += p.errors;
    }
    all.latencies.sort_unstable();
    Ok(all)
}

/// One connection's closed loop: a new request as soon as the last one is answered.
fn client(t: &Target, from: Instant, until: Instant) -> Stats {
    let mut stats = Stats::default();
    let mut conn: Option<Http> = None;
    loop {
        let started = Instant::now();
        if started >= until {
            break;
        }
        let counted = started >= from;
        let http = match conn.as_mut() {
            Some(h) => h,
            None => match Http::connect(t.addr, &t.path) {
                Ok(h) => conn.insert(h),
                Err(_) => {
                    if counted {
                        stats.errors += 1;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        match http.get() {
            Ok((status, keep_alive)) => {
                if counted {
                    if status == 200 {
                        let us = started.elapsed().as_micros();
                        stats.latencies.push(u64::try_from(us).unwrap_or(u64::MAX));
                    } else {
                        stats.errors += 1;
                    }
                }
                if !keep_alive {
                    conn = None;
                }
            }
            Err(_) => {
                if counted {
                    stats.errors += 1;
                }
                conn = None;
            }
        }
    }
    stats
}
