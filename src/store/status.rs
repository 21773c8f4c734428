//! Push status: what an integration's IdP did last (the last request, the
//! last successful change, its User-Agent and detected IdP), the last
//! errors it was answered, and the counts an admin checks first. The server
//! gathers what it sees in memory and writes it here in batches
//! ([`record`]); `scimd integration show` reads it ([`get`]).

use super::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Errors kept per integration.
pub const ERRORS_KEPT: i64 = 20;

/// What the server saw of one integration since its last batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    pub integration: String,
    /// Time of the newest request.
    pub last_request: String,
    /// Time of the newest write that succeeded, if any in this batch.
    pub last_change: Option<String>,
    pub user_agent: Option<String>,
    /// `Idp::as_str` of the detected IdP.
    pub idp: Option<&'static str>,
    /// Errors answered, oldest first (at most [`ERRORS_KEPT`]).
    pub errors: Vec<PushError>,
}

/// One error answered to the IdP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushError {
    pub time: String,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    #[serde(rename = "scimType")]
    pub scim_type: Option<String>,
    pub detail: String,
}

/// Whether the integration still exists: batches are written a moment
/// after their requests, and an integration may have been deleted since.
pub(super) fn integration_exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM integration WHERE id = ?1")?
        .exists([id])?)
}

/// Writes one batch inside the caller's transaction. An integration deleted
/// since the requests were seen is skipped.
pub fn record(conn: &Connection, seen: &Seen) -> Result<()> {
    if !integration_exists(conn, &seen.integration)? {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO push_status(integration_id, last_request, last_change, user_agent, idp)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(integration_id) DO UPDATE SET
            last_request = max(ifnull(last_request, ''), excluded.last_request),
            last_change = CASE WHEN excluded.last_change IS NULL THEN last_change
                               ELSE max(ifnull(last_change, ''), excluded.last_change) END,
            user_agent = excluded.user_agent,
            idp = excluded.idp",
    )?
    .execute(params![
        seen.integration,
        seen.last_request,
        seen.last_change,
        seen.user_agent,
        seen.idp
    ])?;
    if seen.errors.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO push_error(integration_id, time, request_id, method, path, status, scim_type, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in &seen.errors {
        insert.execute(params![
            seen.integration,
            e.time,
            e.request_id,
            e.method,
            e.path,
            e.status,
            e.scim_type,
            e.detail
        ])?;
    }
    conn.prepare_cached(
        "DELETE FROM push_error WHERE integration_id = ?1 AND seq <=
            (SELECT seq FROM push_error WHERE integration_id = ?1
             ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![seen.integration, ERRORS_KEPT])?;
    Ok(())
}

/// User counts by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub active: i64,
    pub inactive: i64,
    pub deprovisioned: i64,
    pub groups: i64,
    /// Live users that are entitled (held ones included).
    pub entitled: i64,
    /// Entitled users whose revocation the breaker holds.
    pub held: i64,
}

/// What `integration show` prints about pushes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushStatus {
    pub last_request: Option<String>,
    pub last_change: Option<String>,
    pub user_agent: Option<String>,
    pub detected_idp: Option<String>,
    pub counts: Counts,
    /// Newest first.
    pub errors: Vec<PushError>,
}

pub fn get(conn: &Connection, integration: &str) -> Result<PushStatus> {
    let (last_request, last_change, user_agent, detected_idp) = conn
        .prepare_cached(
            "SELECT last_request, last_change, user_agent, idp FROM push_status
             WHERE integration_id = ?1",
        )?
        .query_row([integration], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?
        .unwrap_or_default();
    let counts = conn
        .prepare_cached(
            "SELECT
                count(*) FILTER (WHERE deprovisioned IS NULL AND active = 1),
                count(*) FILTER (WHERE deprovisioned IS NULL AND active = 0),
                count(*) FILTER (WHERE deprovisioned IS NOT NULL),
                (SELECT count(*) FROM scim_group WHERE integration_id = ?1),
                count(*) FILTER (WHERE deprovisioned IS NULL AND entitled = 1),
                count(*) FILTER (WHERE deprovisioned IS NULL AND entitled = 1 AND held = 1)
             FROM scim_user WHERE integration_id = ?1",
        )?
        .query_row([integration], |r| {
            Ok(Counts {
                active: r.get(0)?,
                inactive: r.get(1)?,
                deprovisioned: r.get(2)?,
                groups: r.get(3)?,
                entitled: r.get(4)?,
                held: r.get(5)?,
            })
        })?;
    let errors = conn
        .prepare_cached(
            "SELECT time, request_id, method, path, status, scim_type, detail FROM push_error
             WHERE integration_id = ?1 ORDER BY seq DESC LIMIT ?2",
        )?
        .query_map(params![integration, ERRORS_KEPT], |r| {
            Ok(PushError {
                time: r.get(0)?,
                request_id: r.get(1)?,
                method: r.get(2)?,
                path: r.get(3)?,
                status: r.get(4)?,
                scim_type: r.get(5)?,
                detail: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(PushStatus {
        last_request,
        last_change,
        user_agent,
        detected_idp,
        counts,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&conn).unwrap();
        crate::store::integrations::create(&conn, "int_a", "a").unwrap();
        conn
    }

    fn error(i: usize) -> PushError {
        PushError {
            time: format!("2026-01-01T00:00:{:02}.000Z", i % 60),
            request_id: format!("r{i}"),
            method: "POST".into(),
            path: "/scim/int_a/Users".into(),
            status: 409,
            scim_type: Some("uniqueness".into()),
            detail: format!("conflict {i}"),
        }
    }

    #[test]
    fn an_integration_never_pushed_to_has_an_empty_status() {
        let conn = db();
        let s = get(&conn, "int_a").unwrap();
        assert_eq!(s.last_request, None);
        assert!(s.errors.is_empty());
        assert_eq!(s.counts, Counts::default());
    }

    #[test]
    fn a_later_batch_without_a_change_keeps_the_last_change_time() {
        let conn = db();
        let first = Seen {
            integration: "int_a".into(),
            last_request: "2026-01-01T00:00:01.000Z".into(),
            last_change: Some("2026-01-01T00:00:01.000Z".into()),
            user_agent: Some("Okta SCIM Client 1.0.0".into()),
            idp: Some("okta"),
            errors: vec![],
        };
        record(&conn, &first).unwrap();
        let second = Seen {
            last_request: "2026-01-01T00:00:05.000Z".into(),
            last_change: None,
            user_agent: Some("curl/8".into()),
            idp: None,
            ..first.clone()
        };
        record(&conn, &second).unwrap();
        let s = get(&conn, "int_a").unwrap();
        assert_eq!(s.last_request.as_deref(), Some("2026-01-01T00:00:05.000Z"));
        assert_eq!(s.last_change.as_deref(), Some("2026-01-01T00:00:01.000Z"));
        assert_eq!(s.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(s.detected_idp, None);
    }

    #[test]
    fn only_the_last_twenty_errors_are_kept_newest_first() {
        let conn = db();
        let seen = Seen {
            integration: "int_a".into(),
            last_request: "2026-01-01T00:00:01.000Z".into(),
            errors: (0..25).map(error).collect(),
            ..Seen::default()
        };
        record(&conn, &seen).unwrap();
        let s = get(&conn, "int_a").unwrap();
        assert_eq!(s.errors.len(), ERRORS_KEPT as usize);
        assert_eq!(s.errors[0].detail, "conflict 24");
        assert_eq!(s.errors[19].detail, "conflict 5");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM push_error", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, ERRORS_KEPT);
    }

    #[test]
    fn a_batch_for_a_deleted_integration_is_skipped() {
        let conn = db();
        let seen = Seen {
            integration: "int_gone".into(),
            last_request: "2026-01-01T00:00:01.000Z".into(),
            errors: vec![error(1)],
            ..Seen::default()
        };
        record(&conn, &seen).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM push_status", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }
}
