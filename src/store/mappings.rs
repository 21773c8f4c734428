//! Group → role mappings. A mapping names a group by id, externalId or
//! displayName; it may name a group that has not arrived yet and then applies
//! when it does, because roles are matched by key at recompute time.

use super::audit::{self, Actor};
use super::{Result, StoreError};
use crate::scim::error::ScimError;
use rusqlite::{params, Connection};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Mapping {
    pub group: String,
    pub role: String,
    pub created: String,
    /// Ids of the integration's groups the key matches now.
    pub matches: Vec<String>,
}

/// Audits a mapping change. Roles are recomputed by the caller after the
/// change commits (`entitlement::recompute_integration`, in chunks).
fn changed(conn: &Connection, integration_id: &str, actor: &Actor, detail: &str) -> Result<()> {
    audit::record(
        conn,
        actor,
        audit::Entry {
            integration_id,
            event: audit::MAPPING_CHANGED,
            resource_type: Some("Mapping"),
            resource_id: None,
            external_id: None,
            detail: Some(detail),
        },
    )
}

pub fn add(
    conn: &Connection,
    integration_id: &str,
    group: &str,
    role: &str,
    actor: &Actor,
) -> Result<()> {
    super::integrations::get(conn, integration_id)?;
    let (group, role) = (group.trim(), role.trim());
    if group.is_empty() || role.is_empty() {
        return Err(StoreError::Scim(ScimError::invalid_value(
            "--group and --role must not be empty",
        )));
    }
    conn.execute(
        "INSERT OR IGNORE INTO mapping(integration_id, group_key, group_key_fold, role, created)
         VALUES (?1, ?2, lower(?2), ?3, ?4)",
        params![integration_id, group, role, crate::clock::now_string()],
    )?;
    changed(
        conn,
        integration_id,
        actor,
        &format!("added {group} -> {role}"),
    )
}

/// Removes the group's mappings (only to `role` when given); returns how many.
pub fn remove(
    conn: &Connection,
    integration_id: &str,
    group: &str,
    role: Option<&str>,
    actor: &Actor,
) -> Result<usize> {
    super::integrations::get(conn, integration_id)?;
    let n = conn.execute(
        "DELETE FROM mapping WHERE integration_id = ?1 AND group_key_fold = lower(?2)
           AND (?3 IS NULL OR role = ?3)",
        params![integration_id, group.trim(), role],
    )?;
    if n == 0 {
        return Err(StoreError::Scim(ScimError::not_found(format!(
            "no mapping for group '{group}'{} in {integration_id}",
            role.map(|r| format!(" to role '{r}'")).unwrap_or_default()
        ))));
    }
    changed(
        conn,
        integration_id,
        actor,
        &format!("removed {group} -> {}", role.unwrap_or("*")),
    )?;
    Ok(n)
}

pub fn list(conn: &Connection, integration_id: &str) -> Result<Vec<Mapping>> {
    super::integrations::get(conn, integration_id)?;
    let mut stmt = conn.prepare(
        "SELECT m.group_key, m.role, m.created,
                (SELECT json_group_array(g.id) FROM scim_group g WHERE g.integration_id = m.integration_id
                   AND m.group_key_fold IN (lower(g.id), lower(g.external_id), lower(g.display_name)))
         FROM mapping m WHERE m.integration_id = ?1 ORDER BY m.group_key_fold, m.role",
    )?;
    let rows = stmt.query_map([integration_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (group, role, created, matches) = row?;
        out.push(Mapping {
            group,
            role,
            created,
            matches: serde_json::from_str(&matches)?,
        });
    }
    Ok(out)
}
