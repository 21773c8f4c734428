//! The process's counters and their Prometheus text rendering. One small
//! registry of atomics and mutex-guarded maps, shared by the whole process
//! (`global()`): the request edge, the domain operations (quirks applied run
//! inside writer jobs, far from any request state) and the renderer all see
//! the same one. Label values are bounded: endpoints and quirks are static
//! names, methods outside the SCIM set are `other`, and integration labels
//! stop growing at `MAX_INTEGRATIONS` (the rest count as `other`), since an
//! unauthenticated client can put any id it likes in a path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Distinct integration labels kept per family; real deployments have a few.
pub const MAX_INTEGRATIONS: usize = 64;
/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    auth_failures: Mutex<BTreeMap<String, u64>>,
    rate_limited: Mutex<BTreeMap<String, u64>>,
    quirks: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Pending webhook deliveries, as the delivery task last counted them.
    webhook_backlog: AtomicU64,
}

/// The process-wide registry.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::default(),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_micros: AtomicU64::new(0),
            auth_failures: Mutex::default(),
            rate_limited: Mutex::default(),
            quirks: Mutex::default(),
            webhook_backlog: AtomicU64::new(0),
        }
    }
}

/// The method as a label: the ones SCIM uses, else `other`.
pub fn method_label(method: &hyper::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "other",
    }
}

/// Adds one to `key`'s count unless the map already holds its share of
/// integration labels, in which case `other` counts it.
fn bump_bounded<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, other: impl FnOnce() -> K) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    let key = if map.contains_key(&key) || map.len() < MAX_INTEGRATIONS {
        key
    } else {
        other()
    };
    *map.entry(key).or_insert(0) += 1;
}

impl Metrics {
    /// Set by the webhook delivery task each time it counts the outbox.
    pub fn set_webhook_backlog(&self, pending: u64) {
        self.webhook_backlog.store(pending, Ordering::Relaxed);
    }

    pub fn request(
        &self,
        endpoint: &'static str,
        method: &'static str,
        status: u16,
        took: Duration,
    ) {
        {
            let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *map.entry((endpoint, method, status)).or_insert(0) += 1;
        }
        let secs = took.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn auth_failure(&self, integration: &str) {
        bump_bounded(&self.auth_failures, integration.to_string(), || {
            "other".to_string()
        });
    }

    pub fn rate_limited(&self, integration: &str) {
        bump_bounded(&self.rate_limited, integration.to_string(), || {
            "other".to_string()
        });
    }

    /// An IdP dialect (body, PATCH or filter) accepted for an integration.
    pub fn quirk(&self, integration: &str, quirk: &'static str) {
        bump_bounded(&self.quirks, (integration.to_string(), quirk), || {
            ("other".to_string(), quirk)
        });
    }

    /// The Prometheus text exposition (format 0.0.4) of every family, with
    /// the gauges read at scrape time passed in.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "scimd_requests_total",
            "counter",
            "Requests answered, by endpoint (route template), method and status.",
        );
        for ((endpoint, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "scimd_requests_total{{endpoint=\"{endpoint}\",method=\"{method}\",status=\"{status}\"}} {n}");
        }
        family(
            &mut out,
            "scimd_request_duration_seconds",
            "histogram",
            "Time from request head to response head.",
        );
        for (bound, count) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "scimd_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "scimd_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "scimd_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "scimd_request_duration_seconds_count {count}");
        by_integration(
            &mut out,
            "scimd_auth_failures_total",
            "Requests refused for a missing or bad bearer token, by integration in the path.",
            &self.auth_failures,
        );
        by_integration(&mut out, "scimd_rate_limited_total", "Requests refused with 429 (rate limit, fair share or failed-auth throttle), by integration.", &self.rate_limited);
        family(
            &mut out,
            "scimd_quirks_applied_total",
            "counter",
            "IdP dialects accepted (body, PATCH and filter quirks), by integration and quirk.",
        );
        for ((integration, quirk), n) in
            self.quirks.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let _ = writeln!(
                out,
                "scimd_quirks_applied_total{{integration=\"{}\",quirk=\"{quirk}\"}} {n}",
                escape(integration)
            );
        }
        gauge(
            &mut out,
            "scimd_writer_queue_depth",
            "Write jobs waiting for the writer thread.",
            gauges.writer_queue as f64,
        );
        family(
            &mut out,
            "scimd_writer_batches_total",
            "counter",
            "Write transactions committed or attempted by the writer (group commits).",
        );
        let _ = writeln!(out, "scimd_writer_batches_total {}", gauges.writer_batches);
        family(
            &mut out,
            "scimd_writer_jobs_total",
            "counter",
            "Write jobs run by the writer; divided by batches, the mean batch size.",
        );
        let _ = writeln!(out, "scimd_writer_jobs_total {}", gauges.writer_jobs);
        family(
            &mut out,
            "scimd_writer_batch_size",
            "histogram",
            "Jobs per writer transaction (group commit: many requests, one fsync).",
        );
        for (bound, n) in crate::store::writer::BATCH_SIZE_BOUNDS
            .iter()
            .zip(gauges.writer_batch_sizes)
        {
            let _ = writeln!(out, "scimd_writer_batch_size_bucket{{le=\"{bound}\"}} {n}");
        }
        // The largest bucket holds every batch; taken from the same read as
        // the buckets, so a batch finishing during the scrape cannot make
        // +Inf smaller than a finite bucket.
        let all = gauges.writer_batch_sizes.last().copied().unwrap_or(0);
        let _ = writeln!(out, "scimd_writer_batch_size_bucket{{le=\"+Inf\"}} {all}");
        let _ = writeln!(out, "scimd_writer_batch_size_sum {}", gauges.writer_jobs);
        let _ = writeln!(out, "scimd_writer_batch_size_count {all}");
        gauge(
            &mut out,
            "scimd_writer_last_batch_size",
            "Jobs in the writer's most recent transaction.",
            gauges.writer_last_batch as f64,
        );
        gauge(
            &mut out,
            "scimd_database_bytes",
            "Size of the SQLite database file.",
            gauges.database_bytes as f64,
        );
        gauge(
            &mut out,
            "scimd_wal_bytes",
            "Size of the SQLite write-ahead log (-wal file).",
            gauges.wal_bytes as f64,
        );
        gauge(
            &mut out,
            "scimd_webhook_backlog",
            "Webhook deliveries waiting in the outbox (pending, including those backing off).",
            self.webhook_backlog.load(Ordering::Relaxed) as f64,
        );
        out
    }
}

/// Values read when scraped rather than counted as they happen.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    pub writer_queue: u64,
    pub writer_batches: u64,
    pub writer_jobs: u64,
    pub writer_last_batch: u64,
    /// Cumulative batches of at most each `writer::BATCH_SIZE_BOUNDS` jobs.
    pub writer_batch_sizes: [u64; crate::store::writer::BATCH_SIZE_BOUNDS.len()],
    pub database_bytes: u64,
    pub wal_bytes: u64,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn by_integration(out: &mut String, name: &str, help: &str, map: &Mutex<BTreeMap<String, u64>>) {
    family(out, name, "counter", help);
    for (integration, n) in map.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(out, "{name}{{integration=\"{}\"}} {n}", escape(integration));
    }
}

/// Label values are client text (an integration id from a path): escaped as
/// the text format requires.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_endpoint_method_and_status() {
        let m = Metrics::default();
        m.request("GetUser", "GET", 200, Duration::from_millis(3));
        m.request("GetUser", "GET", 200, Duration::from_millis(3));
        m.request("GetUser", "GET", 404, Duration::from_millis(3));
        let text = m.render(&Gauges::default());
        assert!(
            text.contains(
                "scimd_requests_total{endpoint=\"GetUser\",method=\"GET\",status=\"200\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "scimd_requests_total{endpoint=\"GetUser\",method=\"GET\",status=\"404\"} 1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn latency_buckets_are_cumulative() {
        let m = Metrics::default();
        m.request("Bulk", "POST", 200, Duration::from_millis(20));
        let text = m.render(&Gauges::default());
        assert!(
            text.contains("scimd_request_duration_seconds_bucket{le=\"0.01\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("scimd_request_duration_seconds_bucket{le=\"0.025\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("scimd_request_duration_seconds_bucket{le=\"10\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("scimd_request_duration_seconds_bucket{le=\"+Inf\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("scimd_request_duration_seconds_count 1\n"),
            "{text}"
        );
    }

    #[test]
    fn integration_labels_stop_growing_at_the_bound() {
        let m = Metrics::default();
        for i in 0..MAX_INTEGRATIONS + 10 {
            m.auth_failure(&format!("int_{i}"));
        }
        m.auth_failure("int_0");
        let text = m.render(&Gauges::default());
        let lines = text
            .lines()
            .filter(|l| l.starts_with("scimd_auth_failures_total{"))
            .count();
        assert_eq!(lines, MAX_INTEGRATIONS + 1, "{text}");
        assert!(
            text.contains("scimd_auth_failures_total{integration=\"other\"} 10\n"),
            "{text}"
        );
        assert!(
            text.contains("scimd_auth_failures_total{integration=\"int_0\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_from_paths_are_escaped() {
        let m = Metrics::default();
        m.rate_limited("a\"b\\c");
        let text = m.render(&Gauges::default());
        assert!(
            text.contains("scimd_rate_limited_total{integration=\"a\\\"b\\\\c\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn every_family_has_help_and_type() {
        let text = Metrics::default().render(&Gauges::default());
        for name in [
            "scimd_requests_total",
            "scimd_request_duration_seconds",
            "scimd_writer_queue_depth",
            "scimd_writer_batch_size",
            "scimd_wal_bytes",
            "scimd_webhook_backlog",
            "scimd_quirks_applied_total",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }
}
