//! Bearer tokens, stored only as SHA-256 hashes and looked up by hash.
//! Rotation gives the previous tokens an expiry instead of revoking them at
//! once, so an IdP can be updated without failed pushes.

use super::audit::{self, Actor};
use super::Result;
use crate::secret;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
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
        .query_row(
            "SELECT t.integration_id, t.last_used FROM token t
             JOIN integration i ON i.id = t.integration_id
             WHERE t.hash = ?1 AND t.revoked IS NULL AND i.enabled = 1
               AND (t.expires IS NULL OR t.expires > ?2)",
            params![hash, crate::clock::now_string()],
            |r| {
                Ok(Authenticated {
                    integration_id: r.get(0)?,
                    hash: hash.clone(),
                    last_used: r.get(1)?,
                })
            },
        )
        .optional()?)
}

pub fn touch(conn: &Connection, hash: &[u8], when: &str) -> Result<()> {
    conn.execute(
        "UPDATE token SET last_used = ?2 WHERE hash = ?1",
        params![hash, when],
    )?;
    Ok(())
}
