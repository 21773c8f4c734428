//! Upkeep while serving. Planner statistics are refreshed once, just after
//! the server is ready (`statistics`): on a million-user file `ANALYZE` takes
//! seconds, which start-up must not wait for. For the same reason a file too
//! large to check before the ready line is checked just after it (`verify`).
//!
//! WAL checkpoints while serving. SQLite's own checkpoint (every 1000 pages)
//! never shrinks the `-wal` file, and a burst of writes can leave it large;
//! so every minute a PASSIVE checkpoint copies what it can without waiting
//! for anyone, and once the writer has been idle for a while a TRUNCATE
//! empties the file. Both run on the writer's connection between its
//! transactions (`Writer::outside`), so they never compete with scimd's own
//! writes. Not started with `serve --no-checkpoint` (Litestream owns them).

use super::Domain;
use crate::store::maintenance::{self, CheckpointMode};
use crate::store::StoreError;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

const PASSIVE_EVERY: Duration = Duration::from_secs(60);
/// No write for this long counts as idle.
pub const IDLE_AFTER: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_secs(1);
/// How long a TRUNCATE may wait for readers before giving up until the next
/// idle period: the writer thread is blocked meanwhile.
const TRUNCATE_PATIENCE_MS: i64 = 200;

/// Refreshes the planner statistics on the writer's connection (between its
/// transactions), then has the readers reopen so their plans use them.
/// The `quick_check` a large file skipped before the ready line, on a
/// connection of its own (a reader's deadline would cut it short), off the
/// runtime's threads. Err is the one-line refusal: the caller stops serving.
pub async fn verify(domain: Domain) -> std::result::Result<(), String> {
    let path = domain.path().to_path_buf();
    let started = std::time::Instant::now();
    let done = tokio::task::spawn_blocking(move || {
        let conn = crate::store::connection::open_read(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        super::admin::verify_integrity(&conn, &path)
    })
    .await
    .unwrap_or_else(|e| Err(format!("the integrity check did not finish: {e}")));
    if done.is_ok() {
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "database checked after ready"
        );
    }
    done
}

pub async fn statistics(domain: Domain) {
    let started = std::time::Instant::now();
    let done = domain
        .writer
        .outside(|c| Ok(crate::store::connection::refresh_statistics(c)?))
        .await;
    match done {
        Ok(()) => {
            domain.readers.renew();
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "planner statistics refreshed"
            );
        }
        Err(e) => tracing::warn!(error = %e, "could not refresh planner statistics"),
    }
}

/// The last step of a clean stop: everything in the WAL goes into the main
/// file and the WAL is emptied, so the file alone is the whole database
/// (a copy taken after a stop is complete). Background tasks still hold the
/// writer, so its connection is not closed, which is when SQLite would do
/// this itself.
pub async fn final_checkpoint(domain: &Domain) {
    let done = domain
        .writer
        .outside(|c| {
            with_busy_timeout(c, Some(TRUNCATE_PATIENCE_MS), |c| {
                Ok(maintenance::checkpoint(c, CheckpointMode::Truncate)?)
            })
        })
        .await;
    if let Err(e) = done {
        tracing::warn!(error = %e, "the final checkpoint failed; the WAL is replayed at the next start");
    }
}

pub async fn checkpoints(domain: Domain, mut stop: watch::Receiver<bool>) {
    let mut last_passive = Instant::now();
    // The writer's batch count when the WAL was last emptied: no new batch,
    // nothing to truncate.
    let mut truncated_at = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
        let stats = domain.writer.stats();
        let batches = stats.batches();
        let mode = if stats.idle_for() >= IDLE_AFTER && truncated_at != Some(batches) {
            CheckpointMode::Truncate
        } else if last_passive.elapsed() >= PASSIVE_EVERY {
            CheckpointMode::Passive
        } else {
            continue;
        };
        let done = domain
            .writer
            .outside(move |c| {
                let patience = (mode == CheckpointMode::Truncate).then_some(TRUNCATE_PATIENCE_MS);
                with_busy_timeout(c, patience, |c| Ok(maintenance::checkpoint(c, mode)?))
            })
            .await;
        last_passive = Instant::now();
        match done {
            Ok(cp) if !cp.busy => {
                if mode == CheckpointMode::Truncate {
                    truncated_at = Some(batches);
                }
                tracing::debug!(?mode, frames = cp.wal_frames, "WAL checkpoint");
            }
            Ok(_) => tracing::debug!(
                ?mode,
                "WAL checkpoint incomplete: readers in the way; next time"
            ),
            Err(e) => tracing::warn!(error = %e, ?mode, "WAL checkpoint failed"),
        }
    }
}

/// Runs `f` with the connection's busy timeout set to `ms` (when given),
/// then puts the previous one back.
fn with_busy_timeout<T>(
    c: &rusqlite::Connection,
    ms: Option<i64>,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let Some(ms) = ms else {
        return f(c);
    };
    let before: i64 = c.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
    c.pragma_update(None, "busy_timeout", ms)?;
    let out = f(c);
    c.pragma_update(None, "busy_timeout", before)?;
    out
}
