//! The one thread that writes. It owns the only write connection and takes
//! jobs over a channel. Whatever is queued when it wakes becomes one
//! transaction (group commit: many requests, one fsync); each job runs in its
//! own SAVEPOINT so one failing job does not undo its neighbours. A job's
//! caller is answered only after COMMIT returns, so an acknowledged change is
//! on disk.

use super::{Result, StoreError};
use rusqlite::Connection;
use std::sync::mpsc;
use std::thread;

/// Called after the batch's COMMIT with whether it succeeded.
type Completion = Box<dyn FnOnce(bool) + Send>;
/// Given the connection (None when no transaction could be started), runs the
/// job's SQL and returns how to answer its caller.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

/// Enough to amortise the fsync, small enough to keep latency bounded.
const MAX_BATCH: usize = 128;

pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub fn start(conn: Connection) -> Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("scimd-writer".into())
            .spawn(move || run_loop(conn, rx))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;
        Ok(Writer { tx })
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let outcome = match conn {
                Some(conn) => in_savepoint(conn, f),
                None => Err(StoreError::Closed),
            };
            Box::new(move |committed| {
                let answer = match outcome {
                    Ok(_) if !committed => Err(StoreError::Corrupt(
                        "the transaction could not be committed".into(),
                    )),
                    other => other,
                };
                let _ = reply_tx.send(answer);
            })
        });
        self.tx.send(job).map_err(|_| StoreError::Closed)?;
        reply_rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    nested(conn, f)
}

/// Runs `f` in a SAVEPOINT: its changes are kept only if it succeeds. Nests,
/// so a job can isolate its own steps (Bulk isolates each operation).
pub fn nested<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT step")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE step")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO step; RELEASE step")?;
            Err(e)
        }
    }
}

fn run_loop(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
            for job in batch {
                job(None)(false);
            }
            continue;
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
            completions.push(job(Some(&conn)));
            broken = conn.is_autocommit();
        }
        if broken {
            tracing::error!("a write job ended the transaction; the batch is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            for done in completions {
                done(false);
            }
            continue;
        }
        let committed = match conn.execute_batch("COMMIT") {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "commit failed; the batch is rolled back");
                let _ = conn.execute_batch("ROLLBACK");
                false
            }
        };
        for done in completions {
            done(committed);
        }
    }
}
