//! Applies `schema.sql` by `PRAGMA user_version`. The file is split at its
//! `-- migration N` markers; sections numbered above the file's current
//! version run in order, each in its own transaction together with the
//! version bump, so a crash mid-migration leaves the previous version intact.

use super::{Result, StoreError};
use rusqlite::Connection;

pub const SCHEMA_SQL: &str = include_str!("../../schema.sql");

/// The numbered sections of `schema.sql`, in file order.
pub fn sections(sql: &str) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = Vec::new();
    for line in sql.lines() {
        if let Some(n) = line
            .strip_prefix("-- migration ")
            .and_then(|rest| rest.trim().parse::<i64>().ok())
        {
            out.push((n, String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

pub fn latest_version() -> i64 {
    sections(SCHEMA_SQL).last().map(|(n, _)| *n).unwrap_or(0)
}

pub fn apply(conn: &Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let latest = latest_version();
    if current > latest {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this scimd ({latest}); upgrade scimd"
        )));
    }
    for (n, body) in sections(SCHEMA_SQL) {
        if n <= current {
            continue;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let step = conn
            .execute_batch(&body)
            .and_then(|_| conn.pragma_update(None, "user_version", n));
        match step {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_numbered_in_order() {
        let s = sections("-- migration 1\nA;\n-- migration 2\nB;\n");
        assert_eq!(s, vec![(1, "A;\n".to_string()), (2, "B;\n".to_string())]);
    }

    #[test]
    fn schema_applies_to_an_empty_database_and_is_idempotent() {
        let conn = Connection::open_in_memory().unwrap();
        apply(&conn).unwrap();
        apply(&conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest_version());
    }
}
