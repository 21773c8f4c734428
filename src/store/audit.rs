//! The audit trail: one row per change, written in the change's own
//! transaction so the trail and the data can never disagree.

use super::Result;
use rusqlite::{params, Connection};

pub const USER_CREATED: &str = "ACCOUNT_SCIM_USER_CREATED";
pub const USER_UPDATED: &str = "ACCOUNT_SCIM_USER_UPDATED";
pub const USER_DEACTIVATED: &str = "ACCOUNT_SCIM_USER_DEACTIVATED";
pub const USER_REACTIVATED: &str = "ACCOUNT_SCIM_USER_REACTIVATED";
pub const USER_DELETED: &str = "ACCOUNT_SCIM_USER_DELETED";
pub const TOKEN_CREATED: &str = "TENANT_SCIM_TOKEN_CREATED";
pub const TOKEN_REVOKED: &str = "TENANT_SCIM_TOKEN_REVOKED";
pub const MAPPING_CHANGED: &str = "MAPPING_CHANGED";
pub const SETTINGS_CHANGED: &str = "SETTINGS_CHANGED";
pub const PIN_RESET: &str = "PIN_RESET";

/// Who caused a change and under which request.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// `scim` for IdP pushes, `cli:<os user>` for admin commands.
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn scim(request_id: &str) -> Actor {
        Actor {
            name: "scim".into(),
            request_id: Some(request_id.to_string()),
        }
    }

    /// The OS user running the CLI, read without NSS so static builds work.
    pub fn cli() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/proc/self/status")
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("Uid:"))
                            .and_then(|rest| {
                                rest.split_whitespace().next().map(|u| format!("uid {u}"))
                            })
                    })
            })
            .unwrap_or_else(|| "unknown".into());
        Actor {
            name: format!("cli:{user}"),
            request_id: None,
        }
    }
}

/// One audit row.
pub struct Entry<'a> {
    pub integration_id: &'a str,
    pub event: &'a str,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub fn record(conn: &Connection, actor: &Actor, e: Entry<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit(time, integration_id, event, resource_type, resource_id,
                           external_id, request_id, actor, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        crate::clock::now_string(),
        e.integration_id,
        e.event,
        e.resource_type,
        e.resource_id,
        e.external_id,
        actor.request_id,
        actor.name,
        e.detail,
    ])?;
    Ok(())
}

/// The event of an aggregated rejected-request row; its `code` says why.
pub const REQUEST_REJECTED: &str = "SCIM_REQUEST_REJECTED";

/// A refused SCIM request, to be folded into its minute's row.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The integration named in the path; recorded only if it exists.
    pub integration_id: Option<String>,
    pub code: &'static str,
    /// The client address (after `--trusted-proxy`).
    pub source: String,
    /// `clock::format` of when it happened: its first 16 characters are the minute.
    pub time: String,
    pub request_id: String,
    /// What was refused and why; never a token, password or PIN.
    pub detail: String,
    /// How many refusals this stands for (the server counts in memory and
    /// writes them in batches).
    pub count: u64,
}

/// One upsert: a new row for the first refusal of its (integration, code,
/// source, minute), else `count + r.count` on that row, so a flood cannot grow the
/// file beyond one row per key and minute. The first request's id and detail
/// are kept.
pub fn record_rejection(conn: &Connection, r: &Rejection) -> Result<()> {
    let minute = r.time.get(..16).unwrap_or(&r.time);
    conn.prepare_cached(
        "INSERT INTO audit(time, integration_id, event, code, request_id, detail, source, minute, count)
         VALUES (?1, (SELECT id FROM integration WHERE id = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(ifnull(integration_id, ''), code, source, minute) WHERE minute IS NOT NULL
         DO UPDATE SET count = count + excluded.count",
    )?
    .execute(params![
        r.time,
        r.integration_id,
        REQUEST_REJECTED,
        r.code,
        r.request_id,
        r.detail,
        r.source,
        minute,
        r.count.max(1),
    ])?;
    Ok(())
}

/// One row as `scimd audit` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub time: String,
    pub event: String,
    pub code: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    pub external_id: Option<String>,
    pub actor: Option<String>,
    pub count: i64,
    pub source: Option<String>,
}

/// The integration's trail, newest first, from `since` (a `clock::format`
/// timestamp) on, at most `limit` rows.
pub fn list(
    conn: &Connection,
    integration_id: &str,
    since: Option<&str>,
    limit: i64,
) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT time, event, code, resource_type, resource_id, request_id, detail,
                external_id, actor, count, source
         FROM audit
         WHERE integration_id = ?1 AND (?2 IS NULL OR time >= ?2)
         ORDER BY time DESC, seq DESC
         LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![integration_id, since, limit], |r| {
            Ok(Row {
                time: r.get(0)?,
                event: r.get(1)?,
                code: r.get(2)?,
                resource_type: r.get(3)?,
                resource_id: r.get(4)?,
                request_id: r.get(5)?,
                detail: r.get(6)?,
                external_id: r.get(7)?,
                actor: r.get(8)?,
                count: r.get(9)?,
                source: r.get(10)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Whether the trail has any row for the integration (it outlives the
/// integration itself).
pub fn has_rows(conn: &Connection, integration_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM audit WHERE integration_id = ?1)")?
        .query_row([integration_id], |r| r.get(0))?)
}

#[cfg(test)]
mod rejection_tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        c.execute(
            "INSERT INTO integration(id, name, created) VALUES ('int_a', 'a', '2026-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
        c
    }

    fn rej(integration: Option<&str>, code: &'static str, source: &str, time: &str) -> Rejection {
        Rejection {
            integration_id: integration.map(str::to_string),
            code,
            source: source.into(),
            time: time.into(),
            request_id: format!("req-{time}"),
            detail: "GET /scim/int_a/Users: refused".into(),
            count: 1,
        }
    }

    fn rows(c: &Connection) -> Vec<(Option<String>, String, String, String, i64)> {
        c.prepare("SELECT integration_id, code, source, minute, count FROM audit ORDER BY seq")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn rejections_fold_per_integration_code_source_and_minute() {
        let c = db();
        for s in ["01", "15", "59"] {
            let t = format!("2026-01-01T10:00:{s}.000Z");
            record_rejection(&c, &rej(Some("int_a"), "SCIM_UNAUTHORIZED", "10.0.0.1", &t)).unwrap();
        }
        record_rejection(
            &c,
            &rej(
                Some("int_a"),
                "SCIM_UNAUTHORIZED",
                "10.0.0.2",
                "2026-01-01T10:00:30.000Z",
            ),
        )
        .unwrap();
        record_rejection(
            &c,
            &rej(
                Some("int_a"),
                "SCIM_RATE_LIMITED",
                "10.0.0.1",
                "2026-01-01T10:00:30.000Z",
            ),
        )
        .unwrap();
        record_rejection(
            &c,
            &rej(
                Some("int_a"),
                "SCIM_UNAUTHORIZED",
                "10.0.0.1",
                "2026-01-01T10:01:00.000Z",
            ),
        )
        .unwrap();
        let r = rows(&c);
        assert_eq!(r.len(), 4, "{r:?}");
        assert_eq!(r[0].4, 3);
        assert_eq!(r[0].3, "2026-01-01T10:00");
        assert!(r[1..].iter().all(|x| x.4 == 1));
    }

    #[test]
    fn unknown_integrations_fold_into_one_null_row() {
        let c = db();
        for id in [Some("int_nope"), Some("int_other"), None] {
            record_rejection(
                &c,
                &rej(
                    id,
                    "SCIM_UNAUTHORIZED",
                    "10.0.0.1",
                    "2026-01-01T10:00:01.000Z",
                ),
            )
            .unwrap();
        }
        let r = rows(&c);
        assert_eq!(
            r,
            vec![(
                None,
                "SCIM_UNAUTHORIZED".into(),
                "10.0.0.1".into(),
                "2026-01-01T10:00".into(),
                3
            )]
        );
    }

    #[test]
    fn list_is_newest_first_with_since_and_limit() {
        let c = db();
        for m in 0..5 {
            let t = format!("2026-01-01T10:0{m}:00.000Z");
            record_rejection(&c, &rej(Some("int_a"), "SCIM_INVALID_FILTER", "::1", &t)).unwrap();
        }
        let all = list(&c, "int_a", None, 100).unwrap();
        assert_eq!(all.len(), 5);
        assert!(all.windows(2).all(|w| w[0].time > w[1].time));
        assert_eq!(all[0].event, REQUEST_REJECTED);
        assert_eq!(all[0].code.as_deref(), Some("SCIM_INVALID_FILTER"));
        let since = list(&c, "int_a", Some("2026-01-01T10:03:00.000Z"), 100).unwrap();
        assert_eq!(since.len(), 2);
        assert_eq!(list(&c, "int_a", None, 2).unwrap().len(), 2);
        assert!(has_rows(&c, "int_a").unwrap());
        assert!(!has_rows(&c, "int_b").unwrap());
    }
}
