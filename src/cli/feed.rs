//! `scimd feed`: an integration's change feed as JSON lines
//! (`{"seq","time","type","id","data"}`), oldest first. A consumer that
//! passes the last `seq` it saw as `--since` never misses a change and never
//! sees one twice: seqs are given in commit order by the one writer at a
//! time, and never reused. `--follow` polls for new rows until interrupted
//! (SIGINT, SIGTERM) or until a write to stdout fails (the reader is gone).

use super::{message, open};
use crate::store::{feed, settings};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Rows read per query, so memory stays flat whatever the feed's length.
const PAGE: i64 = 1000;
/// How often `--follow` looks for new rows.
const POLL: Duration = Duration::from_millis(200);

pub fn run(
    db: &Path,
    id: &str,
    since: i64,
    limit: Option<i64>,
    follow: bool,
) -> Result<(), String> {
    let conn = open(db)?;
    // An unknown integration is an error, not an empty feed.
    settings::get(&conn, id).map_err(message)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut after = since;
    let mut left = limit.unwrap_or(i64::MAX);
    while left > 0 {
        let want = PAGE.min(left);
        let rows = feed::read(&conn, id, after, want).map_err(message)?;
        for row in &rows {
            let line = serde_json::to_string(row).map_err(|e| e.to_string())?;
            if writeln!(out, "{line}").is_err() {
                // The reader went away (a closed pipe): nothing left to do.
                return Ok(());
            }
            after = row.seq;
            left -= 1;
        }
        if rows.len() as i64 == want {
            // A full page: more may be waiting already.
            continue;
        }
        if out.flush().is_err() || !follow {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
    out.flush().ok();
    Ok(())
}
