//! Opening the database: the pragmas every connection needs. WAL lets readers
//! (the server's pool, the CLI) run beside the one writer; `synchronous=FULL`
//! makes an acknowledged change survive power loss; the busy timeout lets the
//! CLI and the server take turns at the write lock instead of failing.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn open_write(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

pub fn open_read(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Gives SQLite's query planner statistics: `ANALYZE` once when the file has
/// none yet (without them an `or` of two indexed lookups, e.g. `userName eq
/// "a" or externalId eq "b"`, scans the table), then `PRAGMA optimize`
/// over every table, which re-analyzes those that grew or shrank a lot since.
/// Full, not sampled (`analysis_limit`): a sample of an index led by the
/// integration id makes one integration look like a thousand rows, and the
/// planner then sorts whole tables for a page. A full pass costs well under a
/// second at a million users and happens once, or when a table grew 25-fold.
/// Run on the writer connection at server start.
pub fn refresh_statistics(conn: &Connection) -> rusqlite::Result<()> {
    let has_stats: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1')",
        [],
        |r| r.get(0),
    )?;
    let empty = !has_stats
        || conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM sqlite_stat1)", [], |r| {
            r.get::<_, bool>(0)
        })?;
    if empty {
        conn.execute_batch("ANALYZE")?;
    }
    // 0x10002: analyze where useful, checking all tables (not only those
    // this connection has queried, which at start is none).
    conn.execute_batch("PRAGMA optimize = 0x10002")?;
    // An empty table's statistics ("0 rows") would make every later plan
    // scan it, however large it has grown: forget them, so the planner
    // assumes a table of some size until one is analyzed with rows in it.
    let forgotten = conn.execute(
        "DELETE FROM sqlite_stat1 WHERE stat = '0' OR stat LIKE '0 %'",
        [],
    )?;
    if forgotten > 0 {
        conn.execute_batch("ANALYZE sqlite_schema")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_gathered_once_data_exists() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&conn).unwrap();
        refresh_statistics(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO integration(id, name, created) VALUES ('int_a', 'A', 'now');
             INSERT INTO scim_user(integration_id, id, user_name, user_name_fold, created, last_modified, resource)
             VALUES ('int_a', 'u1', 'a', 'a', 'now', 'now', '{}');",
        )
        .unwrap();
        refresh_statistics(&conn).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'scim_user'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(n > 0);
        // Empty tables keep no statistics: "0 rows" would make the planner
        // scan them forever after.
        let zero: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_stat1 WHERE stat = '0' OR stat LIKE '0 %'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(zero, 0);
        let membership: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'membership'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(membership, 0);
        // Already there: runs again without error.
        refresh_statistics(&conn).unwrap();
    }
}
