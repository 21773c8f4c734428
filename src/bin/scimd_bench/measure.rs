//! Runs a scenario on several kept-alive connections for a bounded time and
//! number of iterations, and turns the latencies into p50/p99 and
//! requests/s. A request counts as an error when its status is not the
//! expected one or its body fails the scenario's check (a 200 that ignored
//! the filter is not a success); errors are counted and the first one is
//! quoted, never hidden and never fatal.

use crate::client::{Call, Reply, Target};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Judges a reply: Ok, or why it is wrong.
pub type Check = Arc<dyn Fn(&Reply) -> Result<(), String> + Send + Sync>;

/// One request of an iteration, reported under `slot`.
pub struct Step {
    pub slot: usize,
    pub call: Call,
    pub check: Check,
}

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub workers: usize,
    pub max_iterations: u64,
    pub duration: Duration,
}

/// What one slot of a scenario measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub bytes: u64,
}

impl Outcome {
    pub fn requests(&self) -> u64 {
        self.latencies.len() as u64 + self.errors
    }

    /// Nearest-rank percentile of the successful requests.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        Some(self.latencies[rank.clamp(1, self.latencies.len()) - 1])
    }

    pub fn p50_ms(&self) -> Option<f64> {
        self.percentile(0.50).map(ms)
    }

    pub fn p99_ms(&self) -> Option<f64> {
        self.percentile(0.99).map(ms)
    }

    pub fn per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.requests() as f64 / s
        } else {
            0.0
        }
    }

    pub fn record(&mut self, result: Result<Duration, String>, bytes: usize) {
        self.bytes += bytes as u64;
        match result {
            Ok(d) => self.latencies.push(d),
            Err(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(e);
                }
            }
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.bytes += other.bytes;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A stateless pseudo-random pick in `0..n` for iteration `k`: scenarios
/// stay reproducible and need no shared generator across workers.
pub fn pick(k: u64, salt: u64, n: u64) -> u64 {
    let mut z = k
        .wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 29;
    if n == 0 {
        0
    } else {
        z % n
    }
}

/// Expects `status` (any of them) and then runs `more` on the JSON body.
pub fn expect_json(
    statuses: &'static [u16],
    more: impl Fn(&serde_json::Value) -> Result<(), String> + Send + Sync + 'static,
) -> Check {
    Arc::new(move |reply: &Reply| {
        if !statuses.contains(&reply.status) {
            return Err(status_error(reply));
        }
        if reply.status == 204 {
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("{}: body is not JSON: {e}", reply.status))?;
        more(&value)
    })
}

/// `400 invalidFilter: filtering is not supported yet`, from a SCIM error body.
pub fn status_error(reply: &Reply) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let mut text = format!("{}", reply.status);
    if let Some(t) = field("scimType") {
        text.push_str(&format!(" {t}"));
    }
    if let Some(d) = field("detail") {
        text.push_str(&format!(": {d}"));
    }
    text
}

/// Runs `make(worker, iteration)` until the plan's time or iteration budget
/// is spent, on `plan.workers` connections. Returns one outcome per slot.
pub async fn run<F>(target: &Target, plan: Plan, slots: usize, make: F) -> Vec<Outcome>
where
    F: Fn(usize, u64) -> Vec<Step> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicU64::new(0));
    let results = Arc::new(Mutex::new(vec![Outcome::default(); slots]));
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..plan.workers.max(1) {
        let (target, make, next, results) =
            (target.clone(), make.clone(), next.clone(), results.clone());
        workers.spawn(async move {
            let mut mine = vec![Outcome::default(); slots];
            match target.connect().await {
                Err(e) => mine[0].record(Err(e), 0),
                Ok(mut conn) => loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= plan.max_iterations || Instant::now() >= deadline {
                        break;
                    }
                    for step in make(w, k) {
                        let slot = step.slot.min(slots - 1);
                        match conn.send(&step.call).await {
                            Ok(reply) => {
                                let verdict = (step.check)(&reply).map(|()| reply.elapsed);
                                mine[slot].record(verdict, reply.body.len());
                            }
                            Err(e) => mine[slot].record(Err(e), 0),
                        }
                    }
                },
            }
            if let Ok(mut all) = results.lock() {
                for (slot, outcome) in mine.into_iter().enumerate() {
                    all[slot].merge(outcome);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let mut all = results.lock().map(|r| r.clone()).unwrap_or_default();
    for outcome in &mut all {
        outcome.latencies.sort_unstable();
        outcome.elapsed = elapsed;
    }
    all
}

/// One line of the printed table.
pub struct Row {
    pub scenario: String,
    pub workers: usize,
    pub outcome: Outcome,
    pub note: String,
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
}

pub fn print_table(rows: &[Row]) {
    let width = rows
        .iter()
        .map(|r| r.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$}  {:>4}  {:>8}  {:>6}  {:>9}  {:>9}  {:>9}  note",
        "scenario", "conn", "requests", "errors", "p50 ms", "p99 ms", "req/s"
    );
    println!("{}", "-".repeat(width + 66));
    for r in rows {
        let mut note = r.note.clone();
        if let Some(e) = &r.outcome.first_error {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str("first error: ");
            note.push_str(&truncate(e, 110));
        }
        println!(
            "{:<width$}  {:>4}  {:>8}  {:>6}  {:>9}  {:>9}  {:>9.1}  {}",
            r.scenario,
            r.workers,
            r.outcome.requests(),
            r.outcome.errors,
            cell(r.outcome.p50_ms()),
            cell(r.outcome.p99_ms()),
            r.outcome.per_second(),
            note
        );
    }
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// `12.3 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
