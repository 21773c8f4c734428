//! A small pool of read-only connections. Each read runs on tokio's blocking
//! thread pool, never on an async worker, and idle connections are kept for
//! reuse. Three rules keep one client from starving the others:
//!
//! * Lanes: token and settings lookups (`run_priority`) have their own
//!   permits and never queue behind searches.
//! * Shares: one integration holds at most half the search permits
//!   (`run_for`), so another integration always finds a reader free.
//! * Deadlines: every read runs under SQLite's progress handler; a query that
//!   runs past `READ_DEADLINE`, or whose caller has gone (the client hung up
//!   and its future was dropped), is interrupted. An overrun comes back as a
//!   400 `tooMany` that says the query was too expensive.

use super::{connection, Result, StoreError};
use crate::scim::error::{ScimError, ScimType};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Longest a read may run before it is interrupted.
pub const READ_DEADLINE: Duration = Duration::from_secs(5);
/// How many SQLite VM steps between two looks at the deadline: about a
/// millisecond of work, so the check costs nothing measurable.
const PROGRESS_STEPS: i32 = 10_000;
/// Permits of the priority lane (token and settings lookups).
const PRIORITY_PERMITS: usize = 2;

#[derive(Clone)]
pub struct Readers {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// Idle connections with the `epoch` they were opened in.
    idle: Mutex<Vec<(u64, Connection)>>,
    /// Moved by `renew`: connections of an older epoch are closed.
    epoch: AtomicU64,
    permits: Arc<Semaphore>,
    priority: Arc<Semaphore>,
    /// Per integration: its share of `permits`.
    shares: Mutex<HashMap<String, Arc<Semaphore>>>,
    share: usize,
    deadline: Duration,
}

/// Sets the flag when dropped: the read's caller is gone (or done).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn too_expensive(deadline: Duration) -> StoreError {
    StoreError::Scim(ScimError::bad(
        ScimType::TooMany,
        format!(
            "the query was too expensive: it ran longer than {} s and was stopped; narrow the filter, ask for a smaller count, or page with cursors",
            deadline.as_secs()
        ),
    ))
}

fn interrupted(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted))
}

impl Readers {
    pub fn new(path: PathBuf, size: usize) -> Readers {
        Self::with_deadline(path, size, READ_DEADLINE)
    }

    pub fn with_deadline(path: PathBuf, size: usize, deadline: Duration) -> Readers {
        let size = size.max(1);
        Readers {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(Vec::new()),
                epoch: AtomicU64::new(0),
                permits: Arc::new(Semaphore::new(size)),
                priority: Arc::new(Semaphore::new(PRIORITY_PERMITS)),
                shares: Mutex::new(HashMap::new()),
                share: size.div_ceil(2),
                deadline,
            }),
        }
    }

    /// Closes every connection, idle now or in use (when it comes back):
    /// the next reads open fresh ones, which load the planner statistics
    /// as they are now (a connection loads them once, when it opens).
    pub fn renew(&self) {
        // Under the lock, so a connection given back meanwhile is either
        // cleared here or sees the new epoch.
        let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        idle.clear();
    }

    /// A read on the general lane, not tied to an integration.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        self.execute(f, permit).await
    }

    /// A read for one integration: it waits for its integration's share
    /// first, then for a reader.
    pub async fn run_for<T, F>(&self, integration_id: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let share = {
            let mut shares = self.inner.shares.lock().unwrap_or_else(|p| p.into_inner());
            shares
                .entry(integration_id.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.inner.share)))
                .clone()
        };
        let _share = share
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        self.run(f).await
    }

    /// Token and settings lookups: their own permits, so searches never
    /// delay authentication.
    pub async fn run_priority<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .inner
            .priority
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        self.execute(f, permit).await
    }

    async fn execute<T, F>(&self, f: F, permit: tokio::sync::OwnedSemaphorePermit) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let cancelled = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancelled.clone());
        let inner = self.inner.clone();
        let deadline = inner.deadline;
        tokio::task::spawn_blocking(move || {
            let (epoch, conn) = inner.take()?;
            let stop_at = Instant::now() + deadline;
            conn.progress_handler(
                PROGRESS_STEPS,
                Some(move || cancelled.load(Ordering::Relaxed) || Instant::now() >= stop_at),
            );
            let result = f(&conn);
            conn.progress_handler(0, None::<fn() -> bool>);
            inner.give_back(epoch, conn);
            drop(permit);
            result.map_err(|e| {
                if interrupted(&e) {
                    too_expensive(deadline)
                } else {
                    e
                }
            })
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("read task failed: {e}")))?
    }
}

impl Inner {
    fn take(&self) -> rusqlite::Result<(u64, Connection)> {
        let pooled = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        match pooled {
            Some(c) => Ok(c),
            None => {
                let epoch = self.epoch.load(Ordering::SeqCst);
                Ok((epoch, connection::open_read(&self.path)?))
            }
        }
    }

    fn give_back(&self, epoch: u64, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if epoch == self.epoch.load(Ordering::SeqCst) {
                idle.push((epoch, conn));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("r.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x);")
            .unwrap();
        (dir, path)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let p = std::env::temp_dir().join(format!(
                    "scimd-readers-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    const ENDLESS: &str =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_read_past_its_deadline_is_stopped_with_too_many() {
        let (_dir, path) = db();
        let readers = Readers::with_deadline(path, 2, Duration::from_millis(200));
        let started = Instant::now();
        let r: Result<i64> =
            runtime().block_on(readers.run(|c| Ok(c.query_row(ENDLESS, [], |r| r.get(0))?)));
        assert!(started.elapsed() < Duration::from_secs(3));
        match r {
            Err(StoreError::Scim(e)) => {
                assert_eq!(e.status, 400);
                assert_eq!(e.scim_type, Some(ScimType::TooMany));
                assert!(e.detail.contains("too expensive"), "{}", e.detail);
            }
            other => panic!("expected tooMany, got {:?}", other.err()),
        }
        // The connection is usable again afterwards.
        let n: i64 = runtime()
            .block_on(readers.run(|c| Ok(c.query_row("SELECT 7", [], |r| r.get(0))?)))
            .unwrap();
        assert_eq!(n, 7);
    }

    #[test]
    fn a_dropped_caller_interrupts_its_query() {
        let (_dir, path) = db();
        let readers = Readers::with_deadline(path, 1, Duration::from_secs(60));
        let rt = runtime();
        let started = Instant::now();
        rt.block_on(async {
            let endless = readers.run(|c| Ok(c.query_row(ENDLESS, [], |r| r.get::<_, i64>(0))?));
            // The caller gives up after 100 ms.
            let _ = tokio::time::timeout(Duration::from_millis(100), endless).await;
            // With one reader, this waits until the endless query has stopped.
            let n: i64 = readers
                .run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get(0))?))
                .await
                .unwrap();
            assert_eq!(n, 1);
        });
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn one_integration_cannot_hold_every_reader() {
        let (_dir, path) = db();
        let readers = Readers::with_deadline(path, 4, Duration::from_secs(60));
        let rt = runtime();
        rt.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let rx = Arc::new(Mutex::new(rx));
            let mut hogs = Vec::new();
            for _ in 0..8 {
                let r = readers.clone();
                let rx = rx.clone();
                hogs.push(tokio::spawn(async move {
                    r.run_for("int_a", move |_| {
                        let _ = rx.lock().unwrap().recv();
                        Ok(())
                    })
                    .await
                }));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            // int_a holds its share (2 of 4); int_b still gets a reader.
            let b = tokio::time::timeout(
                Duration::from_secs(5),
                readers.run_for("int_b", |c| {
                    Ok(c.query_row("SELECT 2", [], |r| r.get::<_, i64>(0))?)
                }),
            )
            .await
            .expect("int_b waited behind int_a")
            .unwrap();
            assert_eq!(b, 2);
            for _ in 0..8 {
                tx.send(()).unwrap();
            }
            for h in hogs {
                h.await.unwrap().unwrap();
            }
        });
    }

    #[test]
    fn the_priority_lane_does_not_wait_behind_searches() {
        let (_dir, path) = db();
        let readers = Readers::with_deadline(path, 1, Duration::from_secs(60));
        let rt = runtime();
        rt.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let r = readers.clone();
            let hog = tokio::spawn(async move {
                r.run(move |_| {
                    let _ = rx.recv();
                    Ok(())
                })
                .await
            });
            tokio::time::sleep(Duration::from_millis(100)).await;
            let n = tokio::time::timeout(
                Duration::from_secs(5),
                readers.run_priority(|c| Ok(c.query_row("SELECT 3", [], |r| r.get::<_, i64>(0))?)),
            )
            .await
            .expect("the priority lane waited")
            .unwrap();
            assert_eq!(n, 3);
            tx.send(()).unwrap();
            hog.await.unwrap().unwrap();
        });
    }
}
