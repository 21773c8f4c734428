//! `scimd audit ID [--since RFC3339] [--limit N] [--json]`: the integration's
//! audit trail, newest first: changes, admin actions and the aggregated rows
//! of refused requests (event `SCIM_REQUEST_REJECTED` with a `code`, the
//! client address in `source` and how many requests the row stands for in
//! `count`). No row holds a token, a password or a PIN.

use super::{message, open};
use crate::store::{audit, integrations, StoreError};
use std::path::Path;

pub const DEFAULT_LIMIT: i64 = 100;

pub fn run(
    db: &Path,
    id: &str,
    since: Option<&str>,
    limit: i64,
    as_json: bool,
) -> Result<(), String> {
    if limit < 1 {
        return Err(format!("--limit must be at least 1, got {limit}"));
    }
    let since = since
        .map(|s| {
            crate::clock::parse(s)
                .map(crate::clock::format)
                .ok_or_else(|| {
                    format!("--since '{s}' is not an RFC 3339 time such as 2026-01-31T09:00:00Z")
                })
        })
        .transpose()?;
    let conn = open(db)?;
    // The trail outlives a deleted integration, so an id with rows is fine.
    match integrations::get(&conn, id) {
        Ok(_) => {}
        Err(StoreError::Scim(e)) if e.status == 404 => {
            if !audit::has_rows(&conn, id).map_err(message)? {
                return Err(e.detail);
            }
        }
        Err(e) => return Err(message(e)),
    }
    let rows = audit::list(&conn, id, since.as_deref(), limit).map_err(message)?;
    if as_json {
        let mut out = String::new();
        for r in &rows {
            out.push_str(&serde_json::to_string(r).map_err(|e| e.to_string())?);
            out.push('\n');
        }
        print!("{out}");
        return Ok(());
    }
    print!("{}", table(&rows));
    Ok(())
}

fn dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// The human view: one line per row, columns padded to their widest cell.
pub fn table(rows: &[audit::Row]) -> String {
    if rows.is_empty() {
        return "no audit entries\n".into();
    }
    let header = [
        "TIME", "EVENT", "CODE", "COUNT", "RESOURCE", "BY", "REQUEST", "DETAIL",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let resource = match (&r.resource_type, &r.resource_id) {
                (None, None) => "-".to_string(),
                (t, i) => {
                    let mut s = format!("{} {}", dash(t), dash(i));
                    if let Some(x) = &r.external_id {
                        s.push_str(&format!(" (externalId {x})"));
                    }
                    s
                }
            };
            let by = r.source.as_ref().or(r.actor.as_ref());
            [
                r.time.clone(),
                r.event.clone(),
                dash(&r.code).to_string(),
                r.count.to_string(),
                resource,
                by.map(String::as_str).unwrap_or("-").to_string(),
                dash(&r.request_id).to_string(),
                dash(&r.detail).replace(['\n', '\r', '\t'], " "),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[&str]| {
        let mut s = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                let pad = widths[i] + 2 - c.chars().count();
                s.push_str(&" ".repeat(pad));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&header);
    for row in &cells {
        let cols: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cols));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(event: &str, code: Option<&str>) -> audit::Row {
        audit::Row {
            time: "2026-01-01T10:00:00.000Z".into(),
            event: event.into(),
            code: code.map(str::to_string),
            resource_type: None,
            resource_id: None,
            request_id: Some("r1".into()),
            detail: Some("GET /scim/int_a/Users: 401 bad\ntoken".into()),
            external_id: None,
            actor: None,
            count: 7,
            source: Some("192.0.2.1".into()),
        }
    }

    #[test]
    fn the_table_aligns_columns_and_keeps_one_line_per_row() {
        let mut created = row("ACCOUNT_SCIM_USER_CREATED", None);
        created.resource_type = Some("User".into());
        created.resource_id = Some("u1".into());
        created.external_id = Some("ext-1".into());
        created.source = None;
        created.actor = Some("scim".into());
        created.count = 1;
        let t = table(&[
            row(audit::REQUEST_REJECTED, Some("SCIM_UNAUTHORIZED")),
            created,
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        let col = |l: &str, w: &str| l.find(w).unwrap();
        assert_eq!(
            col(lines[0], "EVENT"),
            col(lines[1], "SCIM_REQUEST_REJECTED")
        );
        assert_eq!(
            col(lines[0], "EVENT"),
            col(lines[2], "ACCOUNT_SCIM_USER_CREATED")
        );
        assert_eq!(col(lines[0], "CODE"), col(lines[1], "SCIM_UNAUTHORIZED"));
        assert!(lines[1].contains("192.0.2.1"));
        assert!(lines[2].contains("User u1 (externalId ext-1)"));
        assert!(lines[2].contains("scim"));
        assert!(lines[1].ends_with("401 bad token"));
    }

    #[test]
    fn json_rows_have_the_documented_keys_in_order() {
        let v =
            serde_json::to_value(row(audit::REQUEST_REJECTED, Some("SCIM_RATE_LIMITED"))).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "time",
                "event",
                "code",
                "resource_type",
                "resource_id",
                "request_id",
                "detail",
                "external_id",
                "actor",
                "count",
                "source"
            ]
        );
    }
}
