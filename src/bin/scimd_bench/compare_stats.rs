//! The pure parts of `scimd-bench compare`: a latency histogram with
//! bounded memory and about 3% resolution, the peak-RSS line of
//! `/proc/PID/status`, and the results table (text and Markdown, one
//! renderer). No I/O here; `compare.rs` measures and writes.

use std::time::Duration;

/// Values below this many microseconds get a bucket each.
const LINEAR: u64 = 64;
/// Buckets per power of two above `LINEAR`: 32 gives ≤ 3.2% error.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Powers of two above `LINEAR`: up to 2^(6+34) µs, far beyond any timeout.
const OCTAVES: u64 = 34;

/// Latencies in microseconds, log-linear buckets: memory does not grow with
/// the request count, so a long run at 60k req/s stays small.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; (LINEAR + OCTAVES * SUB) as usize],
            total: 0,
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let octave = 63 - u64::from(us.leading_zeros()); // ≥ 6
    let sub = (us >> (octave - u64::from(SUB_BITS))) & (SUB - 1);
    let index = LINEAR + (octave - 6) * SUB + sub;
    index.min(LINEAR + OCTAVES * SUB - 1) as usize
}

/// The lowest and highest value of a bucket.
fn bounds_of(index: usize) -> (u64, u64) {
    let i = index as u64;
    if i < LINEAR {
        return (i, i);
    }
    let octave = (i - LINEAR) / SUB + 6;
    let sub = (i - LINEAR) % SUB;
    let width = 1u64 << (octave - u64::from(SUB_BITS));
    let low = (1u64 << octave) + sub * width;
    (low, low + width - 1)
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)] += 1;
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Nearest-rank percentile (`q` in 0..=1), as the middle of its bucket.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, high) = bounds_of(i);
                return Some(Duration::from_micros(low + (high - low) / 2));
            }
        }
        None
    }
}

/// `VmHWM` (peak resident set) from the text of `/proc/PID/status`, in bytes.
pub fn vm_hwm_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some(n * 1024),
        _ => None,
    }
}

/// What one workload measured on one server.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub ok: Histogram,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Cell {
    pub fn per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.ok.count() as f64 / s
        } else {
            0.0
        }
    }

    fn ms(&self, q: f64) -> Option<f64> {
        self.ok.percentile(q).map(|d| d.as_secs_f64() * 1000.0)
    }
}

/// One server of the run: its column title, peak RSS and cells by workload.
pub struct Column {
    pub title: String,
    pub rss_bytes: Option<u64>,
    /// One per workload, None when it did not run on this server.
    pub cells: Vec<Option<Cell>>,
}

/// Ratio columns: the req/s of column `num` over that of column `den`.
pub struct Ratio {
    pub title: String,
    pub num: usize,
    pub den: usize,
}

fn show_cell(c: &Option<Cell>) -> String {
    match c {
        None => "–".into(),
        Some(c) if c.ok.count() == 0 && c.errors == 0 => "no answer within the run".into(),
        Some(c) if c.ok.count() == 0 => format!("failed ({} errors)", c.errors),
        Some(c) => {
            let mut s = format!(
                "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                c.per_second(),
                c.ms(0.50).unwrap_or(0.0),
                c.ms(0.99).unwrap_or(0.0)
            );
            if c.errors > 0 {
                s.push_str(&format!(" ({} errors)", c.errors));
            }
            s
        }
    }
}

fn ratio(num: &Option<Cell>, den: &Option<Cell>) -> String {
    match (num, den) {
        (Some(n), Some(d)) if n.ok.count() > 0 && d.ok.count() > 0 && d.per_second() > 0.0 => {
            format!("{:.2}×", n.per_second() / d.per_second())
        }
        _ => "–".into(),
    }
}

/// The results as a Markdown table (which also reads well as text): one
/// row per workload, one column per server, then the ratios, then a row of
/// peak RSS. First errors follow the table, so no failure hides.
pub fn render_table(workloads: &[String], columns: &[Column], ratios: &[Ratio]) -> String {
    let mut out = String::new();
    out.push_str("| workload |");
    for c in columns {
        out.push_str(&format!(" {} |", c.title));
    }
    for r in ratios {
        out.push_str(&format!(" {} |", r.title));
    }
    out.push('\n');
    out.push_str("|---|");
    for _ in 0..columns.len() + ratios.len() {
        out.push_str("---|");
    }
    out.push('\n');
    let none = None;
    for (w, name) in workloads.iter().enumerate() {
        out.push_str(&format!("| {name} |"));
        for c in columns {
            out.push_str(&format!(
                " {} |",
                show_cell(c.cells.get(w).unwrap_or(&none))
            ));
        }
        for r in ratios {
            let cell = |i: usize| columns.get(i).and_then(|c| c.cells.get(w)).unwrap_or(&none);
            out.push_str(&format!(" {} |", ratio(cell(r.num), cell(r.den))));
        }
        out.push('\n');
    }
    out.push_str("| peak RSS (VmHWM) |");
    for c in columns {
        let rss = c.rss_bytes.map_or_else(
            || "–".to_string(),
            |b| format!("{:.1} MiB", b as f64 / 1048576.0),
        );
        out.push_str(&format!(" {rss} |"));
    }
    for _ in ratios {
        out.push_str(" |");
    }
    out.push('\n');
    let mut notes = String::new();
    for c in columns {
        for (w, cell) in c.cells.iter().enumerate() {
            if let Some(Cell {
                first_error: Some(e),
                errors,
                ..
            }) = cell
            {
                let name = workloads.get(w).map_or("?", String::as_str);
                notes.push_str(&format!(
                    "- {} / {name}: {errors} errors, first: {}\n",
                    c.title,
                    crate::measure::truncate(e, 200)
                ));
            }
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(us: impl IntoIterator<Item = u64>) -> Histogram {
        let mut h = Histogram::default();
        for v in us {
            h.record(Duration::from_micros(v));
        }
        h
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        assert_eq!(Histogram::default().percentile(0.5), None);
    }

    #[test]
    fn small_latencies_are_exact_nearest_rank_percentiles() {
        let h = hist(1..=50);
        assert_eq!(h.percentile(0.50), Some(Duration::from_micros(25)));
        assert_eq!(h.percentile(0.99), Some(Duration::from_micros(50)));
        assert_eq!(h.percentile(0.0), Some(Duration::from_micros(1)));
    }

    #[test]
    fn large_latencies_are_within_a_few_percent() {
        // 1 ms .. 100 ms in 1 µs steps would be slow; 10 µs steps suffice.
        let h = hist((1_000..100_000).step_by(10));
        for (q, want) in [(0.5, 50_500.0), (0.99, 99_010.0), (0.999, 99_900.0)] {
            let got = h.percentile(q).unwrap().as_micros() as f64;
            assert!((got - want).abs() / want < 0.035, "q {q}: {got} vs {want}");
        }
    }

    #[test]
    fn every_value_falls_in_a_bucket_that_contains_it() {
        for v in [
            0,
            1,
            63,
            64,
            65,
            127,
            128,
            1000,
            123_456,
            9_999_999,
            1 << 39,
        ] {
            let (low, high) = bounds_of(bucket_of(v));
            assert!(low <= v && v <= high, "{v} not in {low}..={high}");
        }
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = hist([10, 20]);
        a.merge(&hist([30, 40, 50]));
        assert_eq!(a.count(), 5);
        assert_eq!(a.percentile(1.0), Some(Duration::from_micros(50)));
    }

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status =
            "Name:\tscimd\nVmPeak:\t  200000 kB\nVmHWM:\t   18432 kB\nVmRSS:\t   17000 kB\n";
        assert_eq!(vm_hwm_bytes(status), Some(18432 * 1024));
        assert_eq!(vm_hwm_bytes("Name:\tx\n"), None);
        assert_eq!(vm_hwm_bytes("VmHWM:\tlots kB\n"), None);
    }

    fn cell(requests: u64, us: u64, secs: u64) -> Option<Cell> {
        Some(Cell {
            ok: hist(std::iter::repeat_n(us, requests as usize)),
            errors: 0,
            first_error: None,
            elapsed: Duration::from_secs(secs),
        })
    }

    #[test]
    fn the_table_shows_each_cell_the_ratios_and_the_peak_rss() {
        let workloads = vec!["GET /Users/{id}".to_string(), "POST /Users".to_string()];
        let columns = vec![
            Column {
                title: "peer".into(),
                rss_bytes: Some(64 * 1048576),
                cells: vec![cell(400, 20_000, 1), None],
            },
            Column {
                title: "scimd".into(),
                rss_bytes: None,
                cells: vec![cell(7000, 1_000, 1), cell(10, 1_000, 1)],
            },
        ];
        let ratios = vec![Ratio {
            title: "scimd / peer".into(),
            num: 1,
            den: 0,
        }];
        let t = render_table(&workloads, &columns, &ratios);
        // 20 ms falls in the bucket 19.968..20.479 ms, shown by its middle.
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| workload | peer | scimd | scimd / peer |");
        assert_eq!(lines[1], "|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| GET /Users/{id} | 400 req/s, p50 20.22 ms, p99 20.22 ms | 7000 req/s, p50 1.00 ms, p99 1.00 ms | 17.50× |"
        );
        assert_eq!(
            lines[3],
            "| POST /Users | – | 10 req/s, p50 1.00 ms, p99 1.00 ms | – |"
        );
        assert_eq!(lines[4], "| peak RSS (VmHWM) | 64.0 MiB | – | |");
    }

    #[test]
    fn errors_are_counted_in_the_cell_and_quoted_under_the_table() {
        let mut c = cell(5, 1_000, 1).unwrap();
        c.errors = 2;
        c.first_error = Some("409 uniqueness".into());
        let columns = vec![Column {
            title: "scimd".into(),
            rss_bytes: None,
            cells: vec![Some(c)],
        }];
        let t = render_table(&["POST /Users".into()], &columns, &[]);
        assert!(t.contains("(2 errors)"), "{t}");
        assert!(
            t.contains("- scimd / POST /Users: 2 errors, first: 409 uniqueness"),
            "{t}"
        );
    }
}
