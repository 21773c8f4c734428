//! The administrative changes and lookups: the CLI's settings, mapping and
//! token changes (functions of a transaction, each reporting its
//! [`Change`]), the server's token and settings lookups and its audit rows
//! for refused requests, and the one-time setup before serving (the first
//! integration, the stored self-signed certificate).

use super::change::{Change, Outcome, Subject};
use super::Domain;
use crate::scim::error::ScimError;
use crate::store::audit::{self, Actor, Rejection};
use crate::store::feed::{self, EventType};
use crate::store::settings::{self, Settings};
use crate::store::tokens::{self, Authenticated};
use crate::store::{self, certificate, connection, integrations, mappings, migrate};
use crate::store::{Result, StoreError};
use rusqlite::Connection;
use serde_json::json;
use std::path::Path;

/// Applies a settings change; the outcome is (old, new), equal when the
/// change asked for what was already set (then nothing is written).
pub fn set_settings(
    c: &Connection,
    integration: &str,
    change: &settings::Change,
    actor: &Actor,
) -> Result<Outcome<(Settings, Settings)>> {
    let old = settings::get(c, integration)?;
    let new = change
        .apply(&old)
        .map_err(|e| StoreError::Scim(ScimError::invalid_value(e)))?;
    let recorded = Change::new(
        integration,
        Subject::Settings,
        integration,
        Some(serde_json::to_value(&old)?),
        Some(serde_json::to_value(&new)?),
    );
    if new != old {
        settings::put(c, integration, &new)?;
        let detail = serde_json::to_string(&new)?;
        audit::record(
            c,
            actor,
            audit::Entry {
                integration_id: integration,
                event: audit::SETTINGS_CHANGED,
                resource_type: Some("Integration"),
                resource_id: Some(integration),
                external_id: None,
                detail: Some(&detail),
            },
        )?;
    }
    Ok(Outcome {
        value: (old, new),
        change: recorded,
    })
}

/// Sets the integration's configured IdP (`integration set --idp`); the
/// outcome is (old, new), equal when nothing changed (then nothing is
/// written or audited).
pub fn set_idp(
    c: &Connection,
    integration: &str,
    idp: crate::scim::idp::Idp,
    actor: &Actor,
) -> Result<Outcome<(crate::scim::idp::Idp, crate::scim::idp::Idp)>> {
    let old = integrations::get(c, integration)?.idp;
    if old != idp {
        integrations::set_idp(c, integration, idp)?;
        let detail = json!({"idp": idp.as_str()}).to_string();
        audit::record(
            c,
            actor,
            audit::Entry {
                integration_id: integration,
                event: audit::SETTINGS_CHANGED,
                resource_type: Some("Integration"),
                resource_id: Some(integration),
                external_id: None,
                detail: Some(&detail),
            },
        )?;
    }
    Ok(Outcome {
        value: (old, idp),
        change: Change::new(
            integration,
            Subject::Settings,
            integration,
            Some(json!({"idp": old.as_str()})),
            Some(json!({"idp": idp.as_str()})),
        ),
    })
}

/// Maps an IdP group (id, externalId or displayName) to a local role.
pub fn add_mapping(
    c: &Connection,
    integration: &str,
    group: &str,
    role: &str,
    actor: &Actor,
) -> Result<Change> {
    mappings::add(c, integration, group, role, actor)?;
    Ok(Change::new(
        integration,
        Subject::Mapping,
        group.trim(),
        None,
        Some(json!({"group": group.trim(), "role": role.trim()})),
    ))
}

/// Removes a group's mappings (to one role, or all); the outcome is how many.
pub fn remove_mapping(
    c: &Connection,
    integration: &str,
    group: &str,
    role: Option<&str>,
    actor: &Actor,
) -> Result<Outcome<usize>> {
    let n = mappings::remove(c, integration, group, role, actor)?;
    Ok(Outcome {
        value: n,
        change: Change::new(
            integration,
            Subject::Mapping,
            group.trim(),
            Some(json!({"group": group.trim(), "role": role.map(str::trim)})),
            None,
        ),
    })
}

/// Issues a new token; older ones stay valid for `grace`, or are revoked.
/// The outcome is the token (shown once) and the old tokens' deadline.
pub fn rotate_token(
    c: &Connection,
    integration: &str,
    grace: time::Duration,
    actor: &Actor,
) -> Result<Outcome<(String, Option<String>)>> {
    let value = tokens::rotate(c, integration, grace, actor)?;
    feed::record(
        c,
        integration,
        EventType::TokenCreated,
        integration,
        json!({
            "integration": integration,
            "prefix": crate::secret::shown_prefix(&value.0),
            "old_tokens_valid_until": value.1,
        }),
    )?;
    Ok(Outcome {
        value,
        change: Change::new(integration, Subject::Token, integration, None, None),
    })
}

/// Revokes every token of the integration; the outcome is how many.
pub fn revoke_tokens(c: &Connection, integration: &str, actor: &Actor) -> Result<Outcome<usize>> {
    let value = tokens::revoke_all(c, integration, actor)?;
    if value > 0 {
        feed::record(
            c,
            integration,
            EventType::TokenRevoked,
            integration,
            json!({"integration": integration, "revoked": value}),
        )?;
    }
    Ok(Outcome {
        value,
        change: Change::new(integration, Subject::Token, integration, None, None),
    })
}

impl Domain {
    /// Finds the token's integration; never waits behind searches.
    pub async fn authenticate(&self, token: String) -> Result<Option<Authenticated>> {
        self.read_priority(move |c| tokens::authenticate(c, &token))
            .await
    }

    /// The CLI's access generation: one `stat`, no database read, so it is
    /// fine on an async worker (see `store::tokens::generation`).
    pub fn access_generation(&self) -> std::io::Result<tokens::Generation> {
        tokens::generation(&self.path)
    }

    /// Records when a token was last used.
    pub async fn touch_token(&self, hash: Vec<u8>, when: String) -> Result<()> {
        self.write(move |c| tokens::touch(c, &hash, &when)).await
    }

    /// An integration's settings; never waits behind searches.
    pub async fn settings(&self, integration: &str) -> Result<Settings> {
        let id = integration.to_string();
        self.read_priority(move |c| settings::get(c, &id)).await
    }

    /// Writes the audit rows of refused requests, as one writer job.
    pub async fn record_rejections(&self, rows: Vec<Rejection>) -> Result<()> {
        self.write(move |c| {
            for r in &rows {
                audit::record_rejection(c, r)?;
            }
            Ok(())
        })
        .await
    }
}

/// The database before serving starts: opened and migrated on the calling
/// thread, where blocking is fine, and dropped before the writer starts.
pub struct Setup {
    conn: Connection,
    checked: bool,
}

/// Files up to this size get their `quick_check` before the server is
/// ready (about a quarter of a second on this size); larger ones right after.
pub const CHECK_BEFORE_READY_BYTES: u64 = 64 << 20;

/// `PRAGMA quick_check` of the file behind `conn`, as the one-line refusal
/// start-up prints.
pub fn verify_integrity(conn: &Connection, db: &Path) -> std::result::Result<(), String> {
    let damaged = |detail: String| {
        format!(
            "cannot open {}: the database is damaged ({detail}); restore a backup (`scimd restore`)",
            db.display()
        )
    };
    match store::maintenance::integrity(conn, false) {
        Ok(found) if found == "ok" => Ok(()),
        Ok(found) => {
            let lines: Vec<&str> = found.lines().take(3).collect();
            Err(damaged(format!("quick_check: {}", lines.join("; "))))
        }
        Err(e) => Err(damaged(e.to_string())),
    }
}

impl Setup {
    /// Refuses, with one line naming the file, what `serve` must not run
    /// on: a file it cannot write, a schema newer than this binary, or a
    /// damaged file (`quick_check` at every start: a crash or a bad disk is
    /// reported before serving, never repaired behind the operator's back).
    pub fn open(db: &Path) -> std::result::Result<Setup, String> {
        let conn =
            connection::open_write(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        // SQLite opens a file it may not write read-only without a word;
        // the first write would fail much later, inside a request.
        if conn
            .is_readonly(rusqlite::DatabaseName::Main)
            .unwrap_or(false)
        {
            return Err(format!(
                "cannot open {}: the file is read-only for this user; scimd needs to write it",
                db.display()
            ));
        }
        // A small file is checked whole before it is served; a large one
        // after the ready line (`housekeeping::verify`), because reading
        // every page of a million-user file takes seconds.
        let size = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
        let checked = size <= CHECK_BEFORE_READY_BYTES;
        if checked {
            verify_integrity(&conn, db)?;
        }
        migrate::apply(&conn).map_err(|e| match e {
            // The newer-schema refusal is not damage: say it plainly.
            StoreError::Corrupt(m) => format!("cannot open {}: {m}", db.display()),
            other => format!("cannot open {}: {other}", db.display()),
        })?;
        Ok(Setup { conn, checked })
    }

    /// Whether `open` checked the whole file; if not, the server checks it
    /// once it is ready.
    pub fn checked(&self) -> bool {
        self.checked
    }

    /// On an empty database, creates the integration `default` and its first
    /// token: (id, token), or None when an integration exists.
    pub fn first_integration(&self) -> Result<Option<(String, String)>> {
        store::in_transaction(&self.conn, |c| {
            if integrations::count(c)? > 0 {
                return Ok(None);
            }
            let id = crate::secret::new_integration_id();
            integrations::create(c, &id, "default")?;
            let token = tokens::issue(c, &id, &Actor::cli())?;
            Ok(Some((id, token)))
        })
    }

    /// The stored self-signed (certificate, key) PEM pair, made by
    /// `generate` and stored on first use so restarts present the same one.
    pub fn certificate(
        &self,
        generate: impl FnOnce() -> std::result::Result<(String, String), String>,
    ) -> Result<(String, String)> {
        store::in_transaction(&self.conn, |c| {
            if let Some(pair) = certificate::get(c)? {
                return Ok(pair);
            }
            let (cert, key) = generate().map_err(StoreError::Corrupt)?;
            certificate::put(c, &cert, &key)?;
            Ok((cert, key))
        })
    }
}
