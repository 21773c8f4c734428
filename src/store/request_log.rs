//! The request log: the last N SCIM requests of each integration (method,
//! path, status, latency, IdP dialects accepted, headers and bodies already
//! redacted by `scim::redact`), so an admin can see exactly what an IdP
//! sent. Written by the server in batches and pruned to N per integration
//! in the same transaction; read by `scimd requests`.

use super::Result;
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::Value;

/// One logged request, as stored and as `scimd requests --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Logged {
    /// Set when read back; ignored when written.
    pub seq: i64,
    pub time: String,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub latency_ms: f64,
    pub quirks: Vec<String>,
    /// Header name to (redacted) value.
    pub request_headers: Value,
    pub request_body: String,
    pub response_body: String,
}

/// Appends an integration's requests (oldest first) and keeps only its
/// newest `keep`. An integration deleted meanwhile is skipped.
pub fn append(conn: &Connection, integration: &str, rows: &[Logged], keep: usize) -> Result<()> {
    if rows.is_empty() || !super::status::integration_exists(conn, integration)? {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO request_log(integration_id, time, request_id, method, path, status,
                                 latency_ms, quirks, request_headers, request_body, response_body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    // Rows the prune would delete at once are not written at all.
    let skip = rows.len().saturating_sub(keep);
    for r in &rows[skip..] {
        insert.execute(params![
            integration,
            r.time,
            r.request_id,
            r.method,
            r.path,
            r.status,
            r.latency_ms,
            serde_json::to_string(&r.quirks)?,
            r.request_headers.to_string(),
            r.request_body,
            r.response_body
        ])?;
    }
    conn.prepare_cached(
        "DELETE FROM request_log WHERE integration_id = ?1 AND seq <=
            (SELECT seq FROM request_log WHERE integration_id = ?1
             ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![integration, keep as i64])?;
    Ok(())
}

/// Requests after `after` (a seq; 0 for all), oldest first; with `last`, only
/// the newest `last` of them.
pub fn list(conn: &Connection, integration: &str, after: i64, last: i64) -> Result<Vec<Logged>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM (
            SELECT seq, time, request_id, method, path, status, latency_ms, quirks,
                   request_headers, request_body, response_body
            FROM request_log WHERE integration_id = ?1 AND seq > ?2
            ORDER BY seq DESC LIMIT ?3)
         ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![integration, after, last], |r| {
        let quirks: String = r.get(7)?;
        let headers: String = r.get(8)?;
        Ok(Logged {
            seq: r.get(0)?,
            time: r.get(1)?,
            request_id: r.get(2)?,
            method: r.get(3)?,
            path: r.get(4)?,
            status: r.get(5)?,
            latency_ms: r.get(6)?,
            quirks: serde_json::from_str(&quirks).unwrap_or_default(),
            request_headers: serde_json::from_str(&headers).unwrap_or(Value::Null),
            request_body: r.get(9)?,
            response_body: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&conn).unwrap();
        crate::store::integrations::create(&conn, "int_a", "a").unwrap();
        crate::store::integrations::create(&conn, "int_b", "b").unwrap();
        conn
    }

    fn row(i: usize) -> Logged {
        Logged {
            seq: 0,
            time: "2026-01-01T00:00:00.000Z".into(),
            request_id: format!("r{i}"),
            method: "GET".into(),
            path: "/scim/int_a/Users".into(),
            status: 200,
            latency_ms: 1.5,
            quirks: vec!["op_case".into()],
            request_headers: serde_json::json!({"user-agent": "Okta"}),
            request_body: String::new(),
            response_body: "{}".into(),
        }
    }

    #[test]
    fn the_log_keeps_only_the_newest_rows_of_each_integration() {
        let conn = db();
        let rows: Vec<Logged> = (0..7).map(row).collect();
        append(&conn, "int_a", &rows[..4], 5).unwrap();
        append(&conn, "int_a", &rows[4..], 5).unwrap();
        append(&conn, "int_b", &rows[..2], 5).unwrap();
        let a = list(&conn, "int_a", 0, 100).unwrap();
        let ids: Vec<&str> = a.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids, ["r2", "r3", "r4", "r5", "r6"]);
        assert_eq!(list(&conn, "int_b", 0, 100).unwrap().len(), 2);
    }

    #[test]
    fn a_batch_larger_than_the_log_writes_only_what_it_keeps() {
        let conn = db();
        let rows: Vec<Logged> = (0..10).map(row).collect();
        append(&conn, "int_a", &rows, 3).unwrap();
        let ids: Vec<String> = list(&conn, "int_a", 0, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["r7", "r8", "r9"]);
    }

    #[test]
    fn listing_after_a_seq_and_with_a_limit_gives_the_newest_in_order() {
        let conn = db();
        let rows: Vec<Logged> = (0..5).map(row).collect();
        append(&conn, "int_a", &rows, 100).unwrap();
        let all = list(&conn, "int_a", 0, 100).unwrap();
        assert_eq!(all[0].quirks, ["op_case"]);
        assert_eq!(all[0].request_headers["user-agent"], "Okta");
        let last_two = list(&conn, "int_a", 0, 2).unwrap();
        assert_eq!(last_two[0].request_id, "r3");
        assert_eq!(last_two[1].request_id, "r4");
        let after = list(&conn, "int_a", all[3].seq, 100).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].request_id, "r4");
    }
}
