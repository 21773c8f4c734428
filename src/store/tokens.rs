//! Bearer tokens, stored only as SHA-256 hashes and looked up by hash.
//! Rotation gives the previous tokens an expiry instead of revoking them at
//! once, so an IdP can be updated without failed pushes.
//!
//! A running server keeps the tokens it has seen valid in memory, so it must
//! learn at once when the CLI changes who may authenticate (a token rotated
//! or revoked, an integration disabled, enabled or deleted). The CLI appends
//! one byte to `<db>.access-changed` after such a change commits; the server
//! compares the file's identity and length ([`Generation`]) with what it saw
//! before, one `stat` per request and no database read. A file rather than
//! SQLite's own change counters (`data_version`, the WAL index) because those
//! move with every write the server makes itself, and reading them needs a
//! connection, which is the thread hop the cache is there to avoid.

use super::audit::{self, Actor};
use super::Result;
use crate::secret;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub prefix: String,
    pub created: String,
    pub last_used: Option<String>,
    pub expires: Option<String>,
}

/// A token that authenticated a request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub integration_id: String,
    pub hash: Vec<u8>,
    pub last_used: Option<String>,
    /// When a rotated-away token stops working; None: never on its own.
    pub expires: Option<String>,
}

/// The file the CLI appends to after a change to who may authenticate.
pub fn access_marker(db: &Path) -> PathBuf {
    super::connection::sidecar(db, ".access-changed")
}

/// What the server compares to learn that the CLI changed access: the
/// marker's inode, length and modification time (None: no marker yet). Only
/// ever appended to, so its length alone grows with each change; the inode
/// and time catch a marker deleted and made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(Option<(u64, u64, u64, i64, i64)>);

/// Reads the marker's generation with one `stat`. An error other than "no
/// such file" is `Err`: the caller cannot know whether anything changed.
pub fn generation(db: &Path) -> std::io::Result<Generation> {
    match std::fs::metadata(access_marker(db)) {
        Ok(m) => Ok(Generation(Some((
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
        )))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Generation(None)),
        Err(e) => Err(e),
    }
}

/// Tells a running server that access changed: appends one byte to the
/// marker (created 0600). Call it after the change has committed, never
/// before: a server that looked in between would cache the old state.
pub fn announce_access_change(db: &Path) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(access_marker(db))?;
    f.write_all(b".")
}

/// Issues a new token; the secret is returned to be shown once.
pub fn issue(conn: &Connection, integration_id: &str, actor: &Actor) -> Result<String> {
    super::integrations::get(conn, integration_id)?;
    let token = secret::new_token();
    let prefix = secret::shown_prefix(&token);
    conn.execute(
        "INSERT INTO token(hash, integration_id, prefix, created) VALUES (?1, ?2, ?3, ?4)",
        params![
            secret::token_hash(&token),
            integration_id,
            prefix,
            crate::clock::now_string()
        ],
    )?;
    audit::record(
        conn,
        actor,
        audit::Entry {
            integration_id,
            event: audit::TOKEN_CREATED,
            resource_type: Some("Token"),
            resource_id: Some(&prefix),
            external_id: None,
            detail: None,
        },
    )?;
    Ok(token)
}

/// Issues a new token and limits every older live token to `grace` from now
/// (zero revokes them at once). Returns the new token and the old tokens'
/// deadline when there was a grace period.
pub fn rotate(
    conn: &Connection,
    integration_id: &str,
    grace: Duration,
    actor: &Actor,
) -> Result<(String, Option<String>)> {
    super::integrations::get(conn, integration_id)?;
    let now = crate::clock::now();
    let deadline = if grace.is_positive() {
        let until = crate::clock::format(now + grace);
        // Never extend a token that already expires sooner.
        conn.execute(
            "UPDATE token SET expires = ?2
             WHERE integration_id = ?1 AND revoked IS NULL AND (expires IS NULL OR expires > ?2)",
            params![integration_id, until],
        )?;
        Some(until)
    } else {
        revoke_all(conn, integration_id, actor)?;
        None
    };
    let token = issue(conn, integration_id, actor)?;
    Ok((token, deadline))
}

/// Revokes every token of the integration.
pub fn revoke_all(conn: &Connection, integration_id: &str, actor: &Actor) -> Result<usize> {
    super::integrations::get(conn, integration_id)?;
    let now = crate::clock::now_string();
    let mut stmt = conn.prepare(
        "UPDATE token SET revoked = ?2
         WHERE integration_id = ?1 AND revoked IS NULL AND (expires IS NULL OR expires > ?2)
         RETURNING prefix",
    )?;
    let prefixes: Vec<String> = stmt
        .query_map(params![integration_id, now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for prefix in &prefixes {
        audit::record(
            conn,
            actor,
            audit::Entry {
                integration_id,
                event: audit::TOKEN_REVOKED,
                resource_type: Some("Token"),
                resource_id: Some(prefix),
                external_id: None,
                detail: None,
            },
        )?;
    }
    Ok(prefixes.len())
}

/// Tokens that would authenticate now, oldest first.
pub fn list_valid(conn: &Connection, integration_id: &str) -> Result<Vec<TokenInfo>> {
    super::integrations::get(conn, integration_id)?;
    let mut stmt = conn.prepare(
        "SELECT prefix, created, last_used, expires FROM token
         WHERE integration_id = ?1 AND revoked IS NULL AND (expires IS NULL OR expires > ?2)
         ORDER BY created",
    )?;
    let rows = stmt.query_map(params![integration_id, crate::clock::now_string()], |r| {
        Ok(TokenInfo {
            prefix: r.get(0)?,
            created: r.get(1)?,
            last_used: r.get(2)?,
            expires: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Finds the live token with this secret on an enabled integration.
pub fn authenticate(conn: &Connection, token: &str) -> Result<Option<Authenticated>> {
    let hash = secret::token_hash(token);
    Ok(conn
        .prepare_cached(
            "SELECT t.integration_id, t.last_used, t.expires FROM token t
             JOIN integration i ON i.id = t.integration_id
             WHERE t.hash = ?1 AND t.revoked IS NULL AND i.enabled = 1
               AND (t.expires IS NULL OR t.expires > ?2)",
        )?
        .query_row(params![hash, crate::clock::now_string()], |r| {
            Ok(Authenticated {
                integration_id: r.get(0)?,
                hash: hash.clone(),
                last_used: r.get(1)?,
                expires: r.get(2)?,
            })
        })
        .optional()?)
}

pub fn touch(conn: &Connection, hash: &[u8], when: &str) -> Result<()> {
    conn.prepare_cached("UPDATE token SET last_used = ?2 WHERE hash = ?1")?
        .execute(params![hash, when])?;
    Ok(())
}
