//! The one thread that writes. It owns the only write connection and takes
//! jobs over a channel. Whatever is queued when it wakes becomes one
//! transaction (group commit: many requests, one fsync); each job runs in its
//! own SAVEPOINT so one failing job does not undo its neighbours. A job's
//! caller is answered only after COMMIT returns, so an acknowledged change is
//! on disk.
//!
//! The queue is bounded: a full queue refuses at once (`StoreError::Busy`,
//! a 503 with Retry-After for the client) instead of growing memory and
//! everyone's latency. A job whose caller has gone (the client hung up) is
//! dropped before it runs. A job that panics is rolled back to its savepoint
//! and answered with an error; the writer goes on with the next one.
//!
//! Maintenance that must not run inside a transaction (a WAL checkpoint)
//! goes through the same queue (`Writer::outside`) and runs between batches.
//! `Stats` holds cheap counters for `/metrics` and for idle detection.

use super::{Result, StoreError};
use rusqlite::Connection;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

/// Called after the batch's COMMIT with how the batch ended.
type Completion = Box<dyn FnOnce(Ending) + Send>;

/// How a batch's transaction ended. A rollback keeps SQLite's error code when
/// there is one, so the caller can tell a full disk (507) from a fault (500).
#[derive(Clone, Copy)]
enum Ending {
    Committed,
    RolledBack(Option<rusqlite::ErrorCode>),
}

impl Ending {
    fn error(self) -> Option<StoreError> {
        let Ending::RolledBack(code) = self else {
            return None;
        };
        let what = "the transaction could not be committed";
        Some(match code {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Db(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some(what.into()),
            )),
            _ => StoreError::Corrupt(what.into()),
        })
    }
}
/// Given the connection (None when no transaction could be started), runs the
/// job's SQL and returns how to answer its caller.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;
/// Runs on the write connection outside any transaction.
type Outside = Box<dyn FnOnce(&Connection) + Send>;

enum Msg {
    Job(Job),
    Outside(Outside),
}

/// Upper bounds of the batch-size histogram (jobs per transaction); the
/// last is `MAX_BATCH`, so every batch falls in one.
pub const BATCH_SIZE_BOUNDS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// Counters kept by the writer; reading them never waits for it.
pub struct Stats {
    /// Batches per size bucket (not cumulative): whether group commit
    /// actually groups, which the mean alone hides.
    batch_sizes: [AtomicU64; BATCH_SIZE_BOUNDS.len()],
    /// Jobs sent and not yet taken by the writer thread.
    queued: AtomicI64,
    batches: AtomicU64,
    jobs: AtomicU64,
    last_batch: AtomicU64,
    /// Milliseconds from `started` to the end of the latest batch.
    last_write_ms: AtomicU64,
    started: Instant,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            batch_sizes: Default::default(),
            queued: AtomicI64::new(0),
            batches: AtomicU64::new(0),
            jobs: AtomicU64::new(0),
            last_batch: AtomicU64::new(0),
            last_write_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    pub fn queue_depth(&self) -> u64 {
        u64::try_from(self.queued.load(Ordering::Relaxed)).unwrap_or(0)
    }

    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    pub fn jobs(&self) -> u64 {
        self.jobs.load(Ordering::Relaxed)
    }

    /// Batches of at most each of `BATCH_SIZE_BOUNDS` jobs (cumulative, as
    /// a Prometheus histogram counts them).
    pub fn batch_size_buckets(&self) -> [u64; BATCH_SIZE_BOUNDS.len()] {
        let mut out = [0; BATCH_SIZE_BOUNDS.len()];
        let mut sum = 0;
        for (o, n) in out.iter_mut().zip(&self.batch_sizes) {
            sum += n.load(Ordering::Relaxed);
            *o = sum;
        }
        out
    }

    pub fn last_batch(&self) -> u64 {
        self.last_batch.load(Ordering::Relaxed)
    }

    /// How long since the writer last ran a batch (since start if never).
    pub fn idle_for(&self) -> std::time::Duration {
        let last = std::time::Duration::from_millis(self.last_write_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    fn batch_done(&self, size: usize) {
        let bucket = BATCH_SIZE_BOUNDS
            .iter()
            .position(|b| size as u64 <= *b)
            .unwrap_or(BATCH_SIZE_BOUNDS.len() - 1);
        self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(size as u64, Ordering::Relaxed);
        self.last_batch.store(size as u64, Ordering::Relaxed);
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_write_ms.store(now, Ordering::Relaxed);
    }
}

/// Enough to amortise the fsync, small enough to keep latency bounded.
const MAX_BATCH: usize = BATCH_SIZE_BOUNDS[BATCH_SIZE_BOUNDS.len() - 1] as usize;
/// Jobs waiting at most. Each integration has at most 64 requests in flight
/// (`server::limits`), so filling this takes 16 busy integrations; beyond
/// it a write waits seconds anyway, and a quick 503 is the kinder answer.
pub const QUEUE_MAX: usize = 1024;

pub struct Writer {
    tx: mpsc::SyncSender<Msg>,
    stats: Arc<Stats>,
}

impl Writer {
    pub fn start(conn: Connection) -> Result<Writer> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE_MAX);
        let stats = Arc::new(Stats::new());
        let counted = stats.clone();
        thread::Builder::new()
            .name("scimd-writer".into())
            .spawn(move || run_loop(conn, rx, &counted))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;
        Ok(Writer { tx, stats })
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn send(&self, msg: Msg) -> Result<()> {
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.try_send(msg).map_err(|e| {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            match e {
                mpsc::TrySendError::Full(_) => StoreError::Busy,
                mpsc::TrySendError::Disconnected(_) => StoreError::Closed,
            }
        })
    }

    /// Runs `f` on the write connection between transactions (for what
    /// SQLite refuses inside one, such as a WAL checkpoint).
    pub async fn outside<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Result<T>>();
        self.send(Msg::Outside(Box::new(move |conn| {
            let _ = reply_tx.send(f(conn));
        })))?;
        reply_rx.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            if reply_tx.is_closed() {
                // Nobody waits for the answer: the change is not made.
                return Box::new(|_: Ending| {});
            }
            let outcome = match conn {
                Some(conn) => in_savepoint(conn, f),
                None => Err(StoreError::Closed),
            };
            Box::new(move |ending: Ending| {
                let answer = match (outcome, ending.error()) {
                    (Ok(_), Some(e)) => Err(e),
                    (other, _) => other,
                };
                let _ = reply_tx.send(answer);
            })
        });
        self.send(Msg::Job(job))?;
        reply_rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    nested(conn, f)
}

/// Runs `f` in a SAVEPOINT: its changes are kept only if it succeeds. Nests,
/// so a job can isolate its own steps (Bulk isolates each operation).
pub fn nested<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    run_cached(conn, "SAVEPOINT step")?;
    // A panic is a bug, but it must cost one job, not every later write.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(panic = %what, "a write job panicked; it is rolled back");
            Err(StoreError::Panicked(what))
        });
    match outcome {
        Ok(v) => {
            run_cached(conn, "RELEASE step")?;
            Ok(v)
        }
        Err(e) => {
            run_cached(conn, "ROLLBACK TO step")?;
            run_cached(conn, "RELEASE step")?;
            Err(e)
        }
    }
}

/// Runs one statement from the connection's statement cache: the writer
/// runs the same few transaction statements thousands of times a second,
/// and parsing them each time was a quarter of its work.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn run_loop(conn: Connection, rx: mpsc::Receiver<Msg>, stats: &Stats) {
    let mut later: Vec<Outside> = Vec::new();
    while let Ok(first) = rx.recv() {
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        let mut batch = Vec::new();
        match first {
            Msg::Job(job) => batch.push(job),
            Msg::Outside(f) => later.push(f),
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(msg) => {
                    stats.queued.fetch_sub(1, Ordering::Relaxed);
                    match msg {
                        Msg::Job(job) => batch.push(job),
                        Msg::Outside(f) => later.push(f),
                    }
                }
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            run_batch(&conn, batch, stats);
        }
        for f in later.drain(..) {
            f(&conn);
        }
    }
}

fn run_batch(conn: &Connection, batch: Vec<Job>, stats: &Stats) {
    let size = batch.len();
    // Counted on every way out: the metric is the writer's work.
    let _counted = Counted(stats, size);
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin a write transaction");
        let code = e.sqlite_error_code();
        for job in batch {
            job(None)(Ending::RolledBack(code));
        }
        return;
    }
    // A fatal error (disk full, I/O) can end the transaction inside a
    // job; the jobs after it must not run outside one, and none of the
    // batch may be reported as committed.
    let mut broken = false;
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    for job in batch {
        if broken {
            completions.push(job(None));
            continue;
        }
        completions.push(job(Some(conn)));
        broken = conn.is_autocommit();
    }
    if broken {
        tracing::error!("a write job ended the transaction; the batch is rolled back");
        let _ = conn.execute_batch("ROLLBACK");
        for done in completions {
            done(Ending::RolledBack(None));
        }
        return;
    }
    let ending = match run_cached(conn, "COMMIT") {
        Ok(()) => Ending::Committed,
        Err(e) => {
            tracing::error!(error = %e, "commit failed; the batch is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            Ending::RolledBack(e.sqlite_error_code())
        }
    };
    for done in completions {
        done(ending);
    }
}

struct Counted<'a>(&'a Stats, usize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.batch_done(self.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> std::sync::Arc<Writer> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        std::sync::Arc::new(Writer::start(conn).unwrap())
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_batch_rolled_back_on_a_full_disk_answers_disk_full() {
        let e = Ending::RolledBack(Some(rusqlite::ErrorCode::DiskFull)).error();
        assert!(e.is_some_and(|e| e.is_disk_full()));
    }

    #[test]
    fn a_batch_rolled_back_for_another_reason_is_not_disk_full() {
        let e = Ending::RolledBack(Some(rusqlite::ErrorCode::SystemIoFailure)).error();
        assert!(matches!(e, Some(StoreError::Corrupt(_))));
        assert!(Ending::RolledBack(None).error().is_some());
        assert!(Ending::Committed.error().is_none());
    }

    #[test]
    fn a_panicking_job_fails_alone_and_the_writer_goes_on() {
        let w = writer();
        runtime().block_on(async {
            let panicked = w
                .run(|c| -> Result<()> {
                    c.execute("INSERT INTO t VALUES (1)", [])?;
                    panic!("boom");
                })
                .await;
            assert!(matches!(panicked, Err(StoreError::Panicked(m)) if m == "boom"));
            w.run(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?))
                .await
                .unwrap();
            let rows: Vec<i64> = w
                .run(|c| {
                    let mut s = c.prepare("SELECT x FROM t ORDER BY x")?;
                    let v = s
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?;
                    Ok(v)
                })
                .await
                .unwrap();
            // The panicking job's insert was rolled back with it.
            assert_eq!(rows, vec![2]);
        });
    }

    #[test]
    fn a_full_queue_refuses_at_once() {
        let w = writer();
        let rt = runtime();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let hold_rx = std::sync::Mutex::new(hold_rx);
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        rt.block_on(async {
            // The first job blocks the writer thread until released.
            let w2 = w.clone();
            let first = tokio::spawn(async move {
                w2.run(move |_| {
                    let _ = started_tx.send(());
                    let _ = hold_rx.lock().unwrap().recv();
                    Ok(())
                })
                .await
            });
            // Only once it runs is every later job sure to wait.
            while started_rx.try_recv().is_err() {
                tokio::task::yield_now().await;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let mut waiting = Vec::new();
            let mut busy = false;
            for _ in 0..QUEUE_MAX + 8 {
                let fut = w.run(|_| Ok(()));
                let mut fut = Box::pin(fut);
                // Poll once: enqueue or be refused.
                match futures_poll_once(&mut fut).await {
                    Some(Err(StoreError::Busy)) => {
                        busy = true;
                        break;
                    }
                    Some(other) => panic!("unexpected early answer: {:?}", other.err()),
                    None => waiting.push(fut),
                }
            }
            assert!(busy, "the queue never refused");
            hold_tx.send(()).unwrap();
            first.await.unwrap().unwrap();
            for fut in waiting {
                fut.await.unwrap();
            }
        });
    }

    /// Polls a future once; Some(output) if it finished.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        use std::task::Poll;
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *f).poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }

    #[test]
    fn a_job_whose_caller_is_gone_is_not_run() {
        let w = writer();
        let rt = runtime();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let hold_rx = std::sync::Mutex::new(hold_rx);
        rt.block_on(async {
            let w2 = w.clone();
            let first = tokio::spawn(async move {
                w2.run(move |_| {
                    let _ = hold_rx.lock().unwrap().recv();
                    Ok(())
                })
                .await
            });
            tokio::task::yield_now().await;
            let mut abandoned = Box::pin(w.run(|c| Ok(c.execute("INSERT INTO t VALUES (9)", [])?)));
            assert!(futures_poll_once(&mut abandoned).await.is_none());
            drop(abandoned);
            hold_tx.send(()).unwrap();
            first.await.unwrap().unwrap();
            let n: i64 = w
                .run(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
                .await
                .unwrap();
            assert_eq!(n, 0);
        });
    }

    #[test]
    fn outside_jobs_run_between_transactions() {
        let w = writer();
        let autocommit = runtime()
            .block_on(w.outside(|c| Ok(c.is_autocommit())))
            .unwrap();
        assert!(autocommit);
    }

    #[test]
    fn stats_count_jobs_and_batches_and_an_empty_queue() {
        let w = writer();
        runtime().block_on(async {
            for _ in 0..3 {
                w.run(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?))
                    .await
                    .unwrap();
            }
        });
        // The counters are updated just after the callers are answered.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while w.stats().jobs() < 3 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(w.stats().jobs(), 3);
        assert!((1..=3).contains(&w.stats().batches()));
        assert_eq!(w.stats().queue_depth(), 0);
        assert!(w.stats().idle_for() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn the_batch_size_histogram_counts_each_batch_once_in_its_bucket() {
        let s = Stats::new();
        for size in [1, 1, 3, 128, 200] {
            s.batch_done(size);
        }
        // ≤1: 2, ≤2: 2, ≤4: 3, … ≤64: 3, ≤128: 5 (the largest bucket takes
        // anything bigger, which MAX_BATCH never lets happen).
        assert_eq!(s.batch_size_buckets(), [2, 2, 3, 3, 3, 3, 3, 5]);
        assert_eq!(s.batches(), 5);
    }
}
