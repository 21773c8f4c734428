//! Opening the database: the pragmas every connection needs. WAL lets readers
//! (the server's pool, the CLI) run beside the one writer; `synchronous=FULL`
//! makes an acknowledged change survive power loss; the busy timeout lets the
//! CLI and the server take turns at the write lock instead of failing.
//!
//! The file holds the TLS private key, every user's personal data and PINs,
//! so it is created readable by its owner only (0600), whatever the umask,
//! and SQLite gives its -wal and -shm the same mode. An existing file that
//! other users can read loses those bits (group bits are kept: an admin may
//! have given a local group read access for the SQL views on purpose).

use rusqlite::{Connection, OpenFlags};
use std::fs::{OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection. Every hot query goes through
/// `prepare_cached`; rusqlite keeps 16 by default, fewer than one create
/// uses, and an evicted statement is parsed and planned again.
const STATEMENT_CACHE: usize = 256;

/// What a checkpoint leaves of the WAL on disk: a burst of writes can grow it
/// far beyond the 1000 pages at which SQLite checkpoints; after the next
/// checkpoint that resets it, it is truncated back to this size.
pub const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Cleared by `serve --no-checkpoint`: an external tool (Litestream) then
/// owns checkpointing, and scimd's write connections never checkpoint.
static AUTO_CHECKPOINT: AtomicBool = AtomicBool::new(true);

pub fn set_auto_checkpoint(on: bool) {
    AUTO_CHECKPOINT.store(on, Ordering::Relaxed);
}

pub fn auto_checkpoint() -> bool {
    AUTO_CHECKPOINT.load(Ordering::Relaxed)
}

/// `<db>-wal` or `<db>-shm` (SQLite appends the suffix to the file name).
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates the database file empty with mode 0600 if it does not exist, so
/// SQLite never creates it with the umask's mode; takes away other users'
/// access to an existing one.
fn restrict(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => tighten(path),
        Err(e) => Err(e),
    }
}

/// Removes the "other" permission bits of `path` if it exists.
fn tighten(path: &Path) -> std::io::Result<()> {
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if mode & 0o007 != 0 {
        // Only the owner may chmod: another user sharing the file through
        // its group gets a warning, not a refusal to work.
        match std::fs::set_permissions(path, Permissions::from_mode(mode & !0o007)) {
            Ok(()) => tracing::warn!(
                "{} was accessible to every local user (mode {mode:04o}); now {:04o}",
                path.display(),
                mode & !0o007
            ),
            Err(e) => tracing::warn!(
                "{} is accessible to every local user (mode {mode:04o}) and cannot be restricted: {e}",
                path.display()
            ),
        }
    }
    Ok(())
}

pub fn open_write(path: &Path) -> rusqlite::Result<Connection> {
    restrict(path).map_err(|e| io_error(path, e))?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    if !auto_checkpoint() {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    // SQLite creates -wal and -shm with the database's mode; these may
    // predate that (an older scimd, a copy made by hand).
    for suffix in ["-wal", "-shm"] {
        tighten(&sidecar(path, suffix)).map_err(|e| io_error(path, e))?;
    }
    Ok(conn)
}

fn io_error(path: &Path, e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
        Some(format!("{}: {e}", path.display())),
    )
}

/// The server's writer connection: `open_write`, plus what only a
/// connection that runs group commits needs.
pub fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = open_write(path)?;
    // Each job of a group commit runs in its own SAVEPOINT, and SQLite
    // keeps a statement journal of the pages it changes that earlier jobs
    // of the batch changed too. Past 64 KiB that journal spills to a
    // temporary file, and those writes were a tenth of the writer's time
    // under concurrent creates. In memory it is bounded by one batch's
    // pages. Not for the CLI's connections: there `VACUUM INTO` and
    // `integrity_check` would keep their temporary data in memory too.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

pub fn open_read(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Gives SQLite's query planner statistics: `ANALYZE` once when the file has
/// none yet (without them an `or` of two indexed lookups, e.g. `userName eq
/// "a" or externalId eq "b"`, scans the table), then `PRAGMA optimize`
/// over every table, which re-analyzes those that grew or shrank a lot since.
/// Full, not sampled (`analysis_limit`): a sample of an index led by the
/// integration id makes one integration look like a thousand rows, and the
/// planner then sorts whole tables for a page. A full pass costs about a
/// second at a million users and happens once, or when a table grew 25-fold:
/// so it runs on the writer connection after the server is ready, never on
/// the way to it. Keeps only `sqlite_stat1` (see `forget_samples`).
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
    forget_samples(conn)
}

/// Deletes the STAT4 samples `ANALYZE` leaves (the bundled SQLite is built
/// with STAT4) and reloads the statistics. With samples, SQLite re-plans a
/// statement whenever a value bound to an indexed column changes
/// (`sqlite3Reprepare`, `stat4ValueFromExpr`): that undid the statement
/// cache and was a seventh of a create's cost. Every index scimd queries is
/// selective or led by the integration id, where `sqlite_stat1` averages are
/// enough (the plan tests in `sql_filter` and `search` check this). Cheap:
/// a few dozen rows per index.
pub fn forget_samples(conn: &Connection) -> rusqlite::Result<()> {
    let samples: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat4')",
        [],
        |r| r.get(0),
    )?;
    if samples && conn.execute("DELETE FROM sqlite_stat4", [])? > 0 {
        conn.execute_batch("ANALYZE sqlite_schema")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("scimd-conn-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_new_database_and_its_wal_are_owner_only() {
        let dir = temp_dir("new");
        let db = dir.join("a.db");
        let conn = open_write(&db).unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&sidecar(&db, "-wal")), 0o600);
        assert_eq!(mode(&sidecar(&db, "-shm")), 0o600);
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_existing_world_readable_database_loses_the_other_bits_only() {
        let dir = temp_dir("old");
        let db = dir.join("a.db");
        drop(open_write(&db).unwrap());
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        drop(open_write(&db).unwrap());
        assert_eq!(mode(&db), 0o640);
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
