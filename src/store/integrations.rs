//! Integrations: one IdP connection each, with its own tokens, users and
//! groups. Nothing crosses integrations.

use super::{Result, StoreError};
use crate::scim::error::ScimError;
use crate::scim::idp::Idp;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Serialize)]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub created: String,
    pub enabled: bool,
    pub users: i64,
    pub groups: i64,
    /// The IdP an admin configured (`--idp`), `generic` unless told.
    #[serde(serialize_with = "idp_name")]
    pub idp: Idp,
}

fn idp_name<S: Serializer>(idp: &Idp, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(idp.as_str())
}

pub fn create(conn: &Connection, id: &str, name: &str) -> Result<Integration> {
    let created = crate::clock::now_string();
    // The rate defaults are written out: the column defaults of the first
    // schema version are older ones (see migration 3).
    let defaults = super::settings::Settings::default();
    conn.execute(
        "INSERT INTO integration(id, name, created, enabled, rate_limit, rate_burst)
         VALUES (?1, ?2, ?3, 1, ?4, ?5)",
        params![id, name, created, defaults.rate_limit, defaults.rate_burst],
    )?;
    get(conn, id)
}

fn unknown(id: &str) -> StoreError {
    StoreError::Scim(ScimError::not_found(format!(
        "no integration with id '{id}'"
    )))
}

const SELECT: &str = "SELECT i.id, i.name, i.created, i.enabled,
        (SELECT count(*) FROM scim_user u WHERE u.integration_id = i.id AND u.deprovisioned IS NULL),
        (SELECT count(*) FROM scim_group g WHERE g.integration_id = i.id),
        i.idp
    FROM integration i";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Integration> {
    Ok(Integration {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        enabled: r.get(3)?,
        users: r.get(4)?,
        groups: r.get(5)?,
        // Written only from `Idp::as_str`; anything else (a hand edit) reads
        // as generic rather than failing every command on the integration.
        idp: Idp::parse(&r.get::<_, String>(6)?).unwrap_or(Idp::Generic),
    })
}

pub fn get(conn: &Connection, id: &str) -> Result<Integration> {
    conn.query_row(&format!("{SELECT} WHERE i.id = ?1"), [id], from_row)
        .optional()?
        .ok_or_else(|| unknown(id))
}

pub fn list(conn: &Connection) -> Result<Vec<Integration>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY i.created, i.id"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM integration", [], |r| r.get(0))?)
}

pub fn set_enabled(conn: &Connection, id: &str, enabled: bool) -> Result<()> {
    let n = conn.execute(
        "UPDATE integration SET enabled = ?2 WHERE id = ?1",
        params![id, enabled],
    )?;
    if n == 0 {
        return Err(unknown(id));
    }
    Ok(())
}

/// Records the IdP an admin configured; returns the one it replaces.
pub fn set_idp(conn: &Connection, id: &str, idp: Idp) -> Result<Idp> {
    let old = get(conn, id)?.idp;
    conn.execute(
        "UPDATE integration SET idp = ?2 WHERE id = ?1",
        params![id, idp.as_str()],
    )?;
    Ok(old)
}

/// Removes the integration and, by cascade, its tokens, users and groups.
/// The audit trail stays.
pub fn delete(conn: &Connection, id: &str) -> Result<()> {
    let n = conn.execute("DELETE FROM integration WHERE id = ?1", [id])?;
    if n == 0 {
        return Err(unknown(id));
    }
    Ok(())
}

/// Removes a scratch integration (`scimd selftest`'s) with everything it
/// left: its rows by cascade, and its audit and change-feed rows, which a
/// real integration keeps after deletion. It served no IdP, so nothing of
/// it is worth keeping.
pub fn delete_scratch(conn: &Connection, id: &str) -> Result<()> {
    delete(conn, id)?;
    conn.execute("DELETE FROM audit WHERE integration_id = ?1", [id])?;
    conn.execute("DELETE FROM changes WHERE integration_id = ?1", [id])?;
    Ok(())
}
