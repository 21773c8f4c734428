//! The rows of `scimd export`: every live user of an integration with its
//! local state, read in one statement and handed over one at a time, so a
//! million users never sit in memory at once. The caller holds the read
//! transaction that makes the count and the rows one snapshot.

use super::Result;
use rusqlite::{params, Connection};

/// One exported user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// The primary email, lower-cased as stored.
    pub email: Option<String>,
    pub active: bool,
    pub entitled: bool,
    pub held: bool,
    pub roles: Vec<String>,
    pub pin: Option<String>,
}

const FROM: &str = "FROM scim_user
    WHERE integration_id = ?1 AND deprovisioned IS NULL AND (?2 = 0 OR entitled = 1)";

/// How many rows [`for_each_user`] will give.
pub fn count(conn: &Connection, integration: &str, entitled_only: bool) -> Result<i64> {
    Ok(conn.query_row(
        &format!("SELECT count(*) {FROM}"),
        params![integration, entitled_only],
        |r| r.get(0),
    )?)
}

/// Calls `f` with each live user (only entitled ones with `entitled_only`),
/// by case-folded userName, which an index gives without sorting. Stops at
/// the first error of `f` and returns it as the inner result.
pub fn for_each_user<E>(
    conn: &Connection,
    integration: &str,
    entitled_only: bool,
    mut f: impl FnMut(UserRow) -> std::result::Result<(), E>,
) -> Result<std::result::Result<(), E>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, user_name, external_id, display_name, primary_email, active, entitled,
                held, roles, pin
         {FROM} ORDER BY user_name_fold"
    ))?;
    let mut rows = stmt.query(params![integration, entitled_only])?;
    while let Some(r) = rows.next()? {
        let roles: String = r.get(8)?;
        let row = UserRow {
            id: r.get(0)?,
            user_name: r.get(1)?,
            external_id: r.get(2)?,
            display_name: r.get(3)?,
            email: r.get(4)?,
            active: r.get(5)?,
            entitled: r.get(6)?,
            held: r.get(7)?,
            roles: serde_json::from_str(&roles)?,
            pin: r.get(9)?,
        };
        if let Err(e) = f(row) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&conn).unwrap();
        crate::store::integrations::create(&conn, "int_a", "a").unwrap();
        let insert = |seq: i64, id: &str, name: &str, entitled: i64, deprov: Option<&str>| {
            conn.execute(
                "INSERT INTO scim_user(seq, integration_id, id, user_name, user_name_fold, created,
                     last_modified, resource, entitled, roles, deprovisioned)
                 VALUES (?1, 'int_a', ?2, ?3, lower(?3), 't', 't', '{}', ?4, '[\"door\"]', ?5)",
                params![seq, id, name, entitled, deprov],
            )
            .unwrap();
        };
        insert(1, "u1", "Zed", 1, None);
        insert(2, "u2", "amy", 0, None);
        insert(3, "u3", "gone", 1, Some("t"));
        conn
    }

    fn names(conn: &Connection, entitled_only: bool) -> Vec<String> {
        let mut out = Vec::new();
        for_each_user(conn, "int_a", entitled_only, |r| {
            out.push(r.user_name);
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
        out
    }

    #[test]
    fn live_users_come_by_case_folded_user_name() {
        let conn = db();
        assert_eq!(names(&conn, false), ["amy", "Zed"]);
        assert_eq!(count(&conn, "int_a", false).unwrap(), 2);
    }

    #[test]
    fn entitled_only_leaves_out_users_without_entitlement() {
        let conn = db();
        assert_eq!(names(&conn, true), ["Zed"]);
        assert_eq!(count(&conn, "int_a", true).unwrap(), 1);
    }

    #[test]
    fn the_callbacks_error_stops_the_walk() {
        let conn = db();
        let mut seen = 0;
        let out = for_each_user(&conn, "int_a", false, |_| {
            seen += 1;
            Err("disk full")
        })
        .unwrap();
        assert_eq!(out, Err("disk full"));
        assert_eq!(seen, 1);
    }

    #[test]
    fn the_walk_uses_an_index_and_never_sorts_every_row() {
        let conn = db();
        for entitled_only in [false, true] {
            let plan: Vec<String> = conn
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT id {FROM} ORDER BY user_name_fold"
                ))
                .unwrap()
                .query_map(params!["int_a", entitled_only], |r| r.get::<_, String>(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
        }
    }
}
