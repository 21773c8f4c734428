//! Keeping the file healthy: WAL checkpoints, the consistency checks behind
//! `scimd check` and `scimd restore`, and the consistent snapshot behind
//! `scimd backup`. SQL and SQLite only: no printing, no flags, no exit codes
//! (the CLI decides what a finding means to the operator).

use super::connection;
use rusqlite::Connection;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// `PRAGMA wal_checkpoint` modes. `Passive` never waits for anyone;
/// `Truncate` waits for readers to leave the WAL (up to the busy timeout) and
/// then cuts the file to zero bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointMode {
    Passive,
    Full,
    Restart,
    Truncate,
}

impl CheckpointMode {
    fn sql(self) -> &'static str {
        match self {
            CheckpointMode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            CheckpointMode::Full => "PRAGMA wal_checkpoint(FULL)",
            CheckpointMode::Restart => "PRAGMA wal_checkpoint(RESTART)",
            CheckpointMode::Truncate => "PRAGMA wal_checkpoint(TRUNCATE)",
        }
    }
}

/// What one checkpoint did, as SQLite reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// A reader or writer kept the checkpoint from completing.
    pub busy: bool,
    /// Frames in the WAL.
    pub wal_frames: i64,
    /// Frames copied back into the database file.
    pub checkpointed: i64,
}

/// Copies the WAL back into the database file. For a periodic task in the
/// server (on the writer connection, or any read-write one): `Passive` every
/// minute or so bounds the WAL without ever blocking a request. Does nothing
/// when `serve --no-checkpoint` handed checkpoints to another tool.
pub fn checkpoint(conn: &Connection, mode: CheckpointMode) -> rusqlite::Result<Checkpoint> {
    if !connection::auto_checkpoint() {
        return Ok(Checkpoint {
            busy: false,
            wal_frames: 0,
            checkpointed: 0,
        });
    }
    conn.query_row(mode.sql(), [], |r| {
        Ok(Checkpoint {
            busy: r.get::<_, i64>(0)? != 0,
            wal_frames: r.get(1)?,
            checkpointed: r.get(2)?,
        })
    })
}

/// `PRAGMA quick_check` (O(N): pages, records, constraints) or the full
/// `integrity_check` (also every index against its table: O(N log N)).
/// Returns "ok" or SQLite's findings joined by newlines.
pub fn integrity(conn: &Connection, full: bool) -> rusqlite::Result<String> {
    let sql = if full {
        "PRAGMA integrity_check(100)"
    } else {
        "PRAGMA quick_check(100)"
    };
    let mut stmt = conn.prepare(sql)?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.join("\n"))
}

/// One row `PRAGMA foreign_key_check` reports: `table`'s row `rowid` points
/// at a missing row of `parent`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ForeignKeyViolation {
    pub table: String,
    pub rowid: Option<i64>,
    pub parent: String,
}

/// At most `limit` violations (a broken file could have millions).
pub fn foreign_keys(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<ForeignKeyViolation>> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        if out.len() == limit {
            break;
        }
        out.push(ForeignKeyViolation {
            table: r.get(0)?,
            rowid: r.get(1)?,
            parent: r.get(2)?,
        });
    }
    Ok(out)
}

/// Rows that should not exist, by kind. The first four would also be
/// foreign-key violations, but a file written with `foreign_keys` off (a
/// hand edit, another tool) can hold them; the last two no foreign key can
/// express. Each query walks one table once with indexed lookups.
const ORPHAN_QUERIES: &[(&str, &str)] = &[
    (
        "emails",
        "SELECT count(*) FROM scim_user_email e
         WHERE NOT EXISTS (SELECT 1 FROM scim_user u WHERE u.seq = e.user_seq)",
    ),
    (
        "memberships",
        "SELECT count(*) FROM membership m
         WHERE NOT EXISTS (SELECT 1 FROM scim_group g WHERE g.seq = m.group_seq)
            OR (m.member_user_seq IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM scim_user u WHERE u.seq = m.member_user_seq))
            OR (m.member_group_seq IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM scim_group g WHERE g.seq = m.member_group_seq))",
    ),
    (
        "tokens",
        "SELECT count(*) FROM token t
         WHERE NOT EXISTS (SELECT 1 FROM integration i WHERE i.id = t.integration_id)",
    ),
    (
        "mappings",
        "SELECT count(*) FROM mapping m
         WHERE NOT EXISTS (SELECT 1 FROM integration i WHERE i.id = m.integration_id)",
    ),
    (
        "users_without_integration",
        "SELECT (SELECT count(*) FROM scim_user u
                 WHERE NOT EXISTS (SELECT 1 FROM integration i WHERE i.id = u.integration_id))
              + (SELECT count(*) FROM scim_group g
                 WHERE NOT EXISTS (SELECT 1 FROM integration i WHERE i.id = g.integration_id))",
    ),
    (
        "cross_integration",
        "SELECT (SELECT count(*) FROM scim_user_email e JOIN scim_user u ON u.seq = e.user_seq
                 WHERE e.integration_id <> u.integration_id)
              + (SELECT count(*) FROM membership m
                 JOIN scim_group g ON g.seq = m.group_seq
                 LEFT JOIN scim_user u ON u.seq = m.member_user_seq
                 LEFT JOIN scim_group h ON h.seq = m.member_group_seq
                 WHERE coalesce(u.integration_id, h.integration_id) <> g.integration_id)",
    ),
];

/// Counts per kind of orphaned row (see [`ORPHAN_QUERIES`]), zeros included
/// so the shape is the same on every file.
pub fn orphans(conn: &Connection) -> rusqlite::Result<BTreeMap<&'static str, i64>> {
    let mut out = BTreeMap::new();
    for (name, sql) in ORPHAN_QUERIES {
        out.insert(*name, conn.query_row(sql, [], |r| r.get(0))?);
    }
    Ok(out)
}

/// Integrations whose `live_user_count` row disagrees with their users (the
/// unfiltered `totalResults` would be wrong), as (id, stored, actual).
pub fn live_count_mismatches(conn: &Connection) -> rusqlite::Result<Vec<(String, i64, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT i.id, c.live, (SELECT count(*) FROM scim_user u
                               WHERE u.integration_id = i.id AND u.deprovisioned IS NULL) AS actual
         FROM integration i LEFT JOIN live_user_count c ON c.integration_id = i.id
         WHERE c.live IS NOT actual",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get::<_, Option<i64>>(1)?.unwrap_or(-1),
            r.get(2)?,
        ))
    })?;
    rows.collect()
}

pub fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Size of `<db>-wal`, 0 when there is none.
pub fn wal_bytes(db: &Path) -> u64 {
    std::fs::metadata(connection::sidecar(db, "-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// `<db>.lock`: `serve` holds an exclusive advisory lock (flock) on it for
/// its whole life, so `restore` can tell that a server uses the file and
/// two servers never share one. The lock goes with the process, however
/// it ends.
pub fn lock_path(db: &Path) -> std::path::PathBuf {
    connection::sidecar(db, ".lock")
}

/// Takes the server lock of `db` without waiting. `Ok(None)`: another
/// process holds it.
pub fn try_lock(db: &Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(lock_path(db))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Writes a consistent snapshot of the database `conn` reads into `target`,
/// which must not exist or be empty. One read transaction: concurrent writers
/// carry on (WAL), and the copy is the database as of its start, compacted.
pub fn vacuum_into(conn: &Connection, target: &Path) -> rusqlite::Result<()> {
    let target = target
        .to_str()
        .ok_or_else(|| rusqlite::Error::InvalidPath(target.to_path_buf()))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO integration(id, name, created) VALUES ('int_a', 'A', 'now'), ('int_b', 'B', 'now');
             INSERT INTO scim_user(seq, integration_id, id, user_name, user_name_fold, created, last_modified, resource)
             VALUES (1, 'int_a', 'u1', 'a', 'a', 'now', 'now', '{}');
             INSERT INTO scim_group(seq, integration_id, id, display_name, created, last_modified, resource)
             VALUES (1, 'int_a', 'g1', 'G', 'now', 'now', '{}');
             INSERT INTO membership(group_seq, member_user_seq) VALUES (1, 1);
             INSERT INTO scim_user_email(user_seq, integration_id, value_fold) VALUES (1, 'int_a', 'a@x');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_consistent_file_has_no_orphans_or_violations() {
        let conn = db();
        assert_eq!(integrity(&conn, false).unwrap(), "ok");
        assert_eq!(integrity(&conn, true).unwrap(), "ok");
        assert!(foreign_keys(&conn, 10).unwrap().is_empty());
        assert!(orphans(&conn).unwrap().values().all(|n| *n == 0));
        assert!(live_count_mismatches(&conn).unwrap().is_empty());
    }

    #[test]
    fn rows_left_behind_with_foreign_keys_off_are_orphans() {
        let conn = db();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             DELETE FROM scim_user WHERE seq = 1;
             INSERT INTO token(hash, integration_id, prefix, created) VALUES (x'00', 'int_gone', 'p', 'now');",
        )
        .unwrap();
        let o = orphans(&conn).unwrap();
        assert_eq!(o["emails"], 1);
        assert_eq!(o["memberships"], 1);
        assert_eq!(o["tokens"], 1);
        assert_eq!(o["mappings"], 0);
        let fk = foreign_keys(&conn, 10).unwrap();
        assert!(fk
            .iter()
            .any(|v| v.table == "token" && v.parent == "integration"));
        assert!(fk.iter().any(|v| v.table == "membership"));
    }

    #[test]
    fn a_membership_across_integrations_is_reported() {
        let conn = db();
        conn.execute_batch(
            "INSERT INTO scim_user(seq, integration_id, id, user_name, user_name_fold, created, last_modified, resource)
             VALUES (2, 'int_b', 'u2', 'b', 'b', 'now', 'now', '{}');
             INSERT INTO membership(group_seq, member_user_seq) VALUES (1, 2);",
        )
        .unwrap();
        assert_eq!(orphans(&conn).unwrap()["cross_integration"], 1);
    }

    #[test]
    fn a_wrong_live_user_count_is_reported() {
        let conn = db();
        conn.execute_batch("UPDATE live_user_count SET live = 7 WHERE integration_id = 'int_a'")
            .unwrap();
        assert_eq!(
            live_count_mismatches(&conn).unwrap(),
            vec![("int_a".to_string(), 7, 1)]
        );
    }

    #[test]
    fn checkpoint_truncate_empties_the_wal() {
        let dir = std::env::temp_dir().join(format!("scimd-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.db");
        let conn = connection::open_write(&path).unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(100000));")
            .unwrap();
        assert!(wal_bytes(&path) > 0);
        let done = checkpoint(&conn, CheckpointMode::Truncate).unwrap();
        assert!(!done.busy);
        assert_eq!(wal_bytes(&path), 0);
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
