//! Prometheus metrics: request latency histograms by route pattern, bids by outcome, and
//! gauges read at scrape time (mail outbox depth and age, scheduler lag, connection pool).
//! Written in the text exposition format by hand: a few counters do not justify a crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot counts observations above every bound.
    counts: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[slot] += 1;
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

type RequestKey = (String, String, u16);

/// The process's counters and histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, Histogram>>,
    bids: Mutex<BTreeMap<String, u64>>,
    scheduler_failures: Mutex<BTreeMap<&'static str, u64>>,
}

/// Values read from the database and the pool when scraped.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub outbox_pending: i64,
    pub outbox_failed: i64,
    /// Age of the oldest pending message, seconds (0 when none).
    pub outbox_oldest_seconds: f64,
    /// How late each timed job is: (job, seconds behind its oldest due item).
    pub scheduler_lag: Vec<(&'static str, f64)>,
    pub pool_connections: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    pub database_up: bool,
    /// Live auction streams open on this instance.
    pub live_streams: u32,
    /// Listings whose live feed runs on this instance.
    pub live_feeds: usize,
    /// Reads done by the live feeds since start (one per change, whatever the subscribers).
    pub live_feed_reads: u64,
}

/// Escapes a label value for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The label of an HTTP method: the standard ones as they are, anything else `OTHER`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one finished request under its route pattern (`/api/v1/listings/{id}`). A method
    /// outside the standard ones is counted as `OTHER`: a client choosing method names must not
    /// be able to add series.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            m.entry((route.to_string(), method_label(method).to_string(), status))
                .or_default()
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Counts a bid request's outcome: `accepted`, `replayed` or the refusal's code.
    pub fn count_bid(&self, outcome: &str) {
        if let Ok(mut m) = self.bids.lock() {
            *m.entry(outcome.to_string()).or_default() += 1;
        }
    }

    /// Counts an item of a timed job that failed (it is retried later).
    pub fn count_scheduler_failure(&self, job: &'static str) {
        if let Ok(mut m) = self.scheduler_failures.lock() {
            *m.entry(job).or_default() += 1;
        }
    }

    /// The whole exposition.
    pub fn render(&self, g: &Gauges, started_unix: i64) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let _ = writeln!(
            out,
            "# HELP ax_build_info The running version.\n# TYPE ax_build_info gauge\nax_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            out,
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {started_unix}"
        );
        self.render_requests(&mut out);
        self.render_bids(&mut out);
        self.render_scheduler(&mut out);
        render_gauges(&mut out, g);
        out
    }

    fn render_requests(&self, out: &mut String) {
        out.push_str("# HELP ax_http_request_duration_seconds Time to the response head, by route pattern, method and status.\n# TYPE ax_http_request_duration_seconds histogram\n");
        let Ok(m) = self.requests.lock() else { return };
        for ((route, method, status), h) in m.iter() {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{status}\"",
                label(route),
                label(method)
            );
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                let _ = writeln!(
                    out,
                    "ax_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "ax_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "ax_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_seconds
            );
            let _ = writeln!(
                out,
                "ax_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
    }

    fn render_bids(&self, out: &mut String) {
        out.push_str("# HELP ax_bids_total Bid requests by outcome: accepted, replayed (same Idempotency-Key) or the refusal code.\n# TYPE ax_bids_total counter\n");
        let Ok(m) = self.bids.lock() else { return };
        for (outcome, n) in m.iter() {
            let _ = writeln!(out, "ax_bids_total{{outcome=\"{}\"}} {n}", label(outcome));
        }
    }
}

impl Metrics {
    fn render_scheduler(&self, out: &mut String) {
        out.push_str("# HELP ax_scheduler_failures_total Items of timed jobs that failed; each is logged and retried later while the rest of the round goes on.\n# TYPE ax_scheduler_failures_total counter\n");
        let Ok(m) = self.scheduler_failures.lock() else {
            return;
        };
        for (job, n) in m.iter() {
            let _ = writeln!(out, "ax_scheduler_failures_total{{job=\"{job}\"}} {n}");
        }
    }
}

fn render_gauges(out: &mut String, g: &Gauges) {
    let gauge = |out: &mut String, name: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge(
        out,
        "ax_database_up",
        "1 when the database answered this scrape.",
        u8::from(g.database_up).to_string(),
    );
    gauge(
        out,
        "ax_mail_outbox_pending",
        "Messages waiting to be sent.",
        g.outbox_pending.to_string(),
    );
    gauge(
        out,
        "ax_mail_outbox_oldest_age_seconds",
        "Age of the oldest message waiting to be sent.",
        g.outbox_oldest_seconds.to_string(),
    );
    gauge(
        out,
        "ax_mail_outbox_failed",
        "Messages that gave up after every retry.",
        g.outbox_failed.to_string(),
    );
    out.push_str("# HELP ax_scheduler_lag_seconds How far behind its oldest due item each timed job is (0 when nothing is due).\n# TYPE ax_scheduler_lag_seconds gauge\n");
    for (job, lag) in &g.scheduler_lag {
        let _ = writeln!(out, "ax_scheduler_lag_seconds{{job=\"{job}\"}} {lag}");
    }
    gauge(
        out,
        "ax_db_pool_connections",
        "Open connections in the pool.",
        g.pool_connections.to_string(),
    );
    gauge(
        out,
        "ax_db_pool_idle_connections",
        "Idle connections in the pool.",
        g.pool_idle.to_string(),
    );
    gauge(
        out,
        "ax_db_pool_max_connections",
        "The pool's size limit.",
        g.pool_max.to_string(),
    );
    gauge(
        out,
        "ax_live_streams",
        "Live auction event streams open on this instance.",
        g.live_streams.to_string(),
    );
    gauge(
        out,
        "ax_live_feeds",
        "Auctions with a live feed on this instance (one database reader each).",
        g.live_feeds.to_string(),
    );
    let _ = writeln!(
        out,
        "# HELP ax_live_feed_reads_total Database reads by the live feeds (one per change, whatever the number of subscribers).\n# TYPE ax_live_feed_reads_total counter\nax_live_feed_reads_total {}",
        g.live_feed_reads
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_cumulative_and_counts_everything() {
        let m = Metrics::new();
        for ms in [1, 3, 3, 40, 20_000] {
            m.observe_request(
                "/api/v1/listings/{id}",
                "GET",
                200,
                Duration::from_millis(ms),
            );
        }
        let text = m.render(&Gauges::default(), 0);
        let line = |le: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("ax_http_request_duration_seconds_bucket")
                        && l.contains(&format!("le=\"{le}\""))
                })
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(line("0.001"), "1");
        assert_eq!(line("0.005"), "3");
        assert_eq!(line("0.05"), "4");
        assert_eq!(line("10"), "4");
        assert_eq!(line("+Inf"), "5");
        assert!(text.contains(
            "ax_http_request_duration_seconds_count{route=\"/api/v1/listings/{id}\",method=\"GET\",status=\"200\"} 5"
        ));
    }

    #[test]
    fn bids_are_counted_by_outcome_and_labels_are_escaped() {
        let m = Metrics::new();
        m.count_bid("accepted");
        m.count_bid("accepted");
        m.count_bid("bid_too_low");
        m.observe_request("/a\"b", "GET", 404, Duration::ZERO);
        let text = m.render(&Gauges::default(), 0);
        assert!(text.contains("ax_bids_total{outcome=\"accepted\"} 2"));
        assert!(text.contains("ax_bids_total{outcome=\"bid_too_low\"} 1"));
        assert!(text.contains("route=\"/a\\\"b\""));
    }

    #[test]
    fn unknown_methods_share_one_series() {
        let m = Metrics::new();
        for i in 0..50 {
            m.observe_request("unmatched", &format!("X-RANDOM-{i}"), 404, Duration::ZERO);
        }
        m.observe_request("unmatched", "DELETE", 404, Duration::ZERO);
        let text = m.render(&Gauges::default(), 0);
        let counts: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ax_http_request_duration_seconds_count"))
            .collect();
        assert_eq!(counts.len(), 2, "{counts:?}");
        assert!(text.contains(
            "ax_http_request_duration_seconds_count{route=\"unmatched\",method=\"OTHER\",status=\"404\"} 50"
        ));
        assert!(!text.contains("X-RANDOM"));
    }
}
