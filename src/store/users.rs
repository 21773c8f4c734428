//! User rows: the canonical resource JSON plus the indexed columns that
//! queries and uniqueness checks need. Every change writes its audit row and
//! recomputes the user's roles and entitlement in the same transaction.
//! A deprovisioned user (DELETE in 'deactivate' mode) is invisible to SCIM
//! but kept, and a later POST with its userName or externalId revives it.

use super::audit::{self, Actor};
use super::settings::{self, DeleteMode, Settings};
use super::{entitlement, search, sql_filter, Result, StoreError};
use crate::scim::error::ScimError;
use crate::scim::etag::check_if_match;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

/// A user as stored: the resource without `id` and `meta`, and the meta facts.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub id: String,
    pub resource: Value,
    pub created: String,
    pub last_modified: String,
    pub version: i64,
}

/// The columns derived from a resource; computed in one place so insert and
/// update (and the benchmark's bulk loader, outside the library) can never
/// disagree about them.
pub struct Columns {
    pub user_name: String,
    pub user_name_fold: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub primary_email: Option<String>,
    /// (lower-cased value, type, primary) for each email, in resource order.
    pub emails: Vec<(String, Option<String>, bool)>,
}

pub fn columns(resource: &Value) -> Result<Columns> {
    let user_name = resource
        .get("userName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::invalid_value("userName is required"))?
        .to_string();
    let emails: Vec<(String, Option<String>, bool)> = resource
        .get("emails")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    let value = e.get("value")?.as_str()?.to_lowercase();
                    let kind = e.get("type").and_then(Value::as_str).map(str::to_string);
                    let primary = e.get("primary").and_then(Value::as_bool).unwrap_or(false);
                    Some((value, kind, primary))
                })
                .collect()
        })
        .unwrap_or_default();
    let primary_email = emails
        .iter()
        .find(|e| e.2)
        .or_else(|| emails.first())
        .map(|e| e.0.clone());
    Ok(Columns {
        user_name_fold: user_name.to_lowercase(),
        user_name,
        external_id: resource
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_string),
        display_name: resource
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_string),
        active: resource
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        primary_email,
        emails,
    })
}

fn check_user_name_free(
    conn: &Connection,
    integration_id: &str,
    cols: &Columns,
    except_seq: Option<i64>,
) -> Result<()> {
    let taken: Option<i64> = conn
        .prepare_cached(
            "SELECT seq FROM scim_user
             WHERE integration_id = ?1 AND user_name_fold = ?2 AND deprovisioned IS NULL",
        )?
        .query_row(params![integration_id, cols.user_name_fold], |r| r.get(0))
        .optional()?;
    match taken {
        Some(seq) if Some(seq) != except_seq => Err(ScimError::uniqueness(format!(
            "userName '{}' is already taken in this integration (userName is case-insensitive)",
            cols.user_name
        ))
        .into()),
        _ => Ok(()),
    }
}

/// With `unique-email` on, no email value may be shared with another live user.
fn check_emails_free(
    conn: &Connection,
    integration_id: &str,
    cols: &Columns,
    except_seq: Option<i64>,
    s: &Settings,
) -> Result<()> {
    if !s.unique_email {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM scim_user_email e JOIN scim_user u ON u.seq = e.user_seq
         WHERE e.integration_id = ?1 AND e.value_fold = ?2 AND u.deprovisioned IS NULL
           AND e.user_seq IS NOT ?3 LIMIT 1",
    )?;
    for (value, _, _) in &cols.emails {
        let taken: Option<i64> = stmt
            .query_row(params![integration_id, value, except_seq], |r| r.get(0))
            .optional()?;
        if taken.is_some() {
            return Err(ScimError::uniqueness(format!(
                "email '{value}' is already used by another user in this integration (unique-email is on)"
            ))
            .into());
        }
    }
    Ok(())
}

/// A deprovisioned record that a new user with these columns revives.
fn find_deprovisioned(
    conn: &Connection,
    integration_id: &str,
    cols: &Columns,
) -> Result<Option<(i64, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, id FROM scim_user
             WHERE integration_id = ?1 AND deprovisioned IS NOT NULL
               AND (user_name_fold = ?2 OR (?3 IS NOT NULL AND external_id = ?3))
             ORDER BY user_name_fold = ?2 DESC LIMIT 1",
        )?
        .query_row(
            params![integration_id, cols.user_name_fold, cols.external_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

fn write_emails(conn: &Connection, seq: i64, integration_id: &str, cols: &Columns) -> Result<()> {
    conn.prepare_cached("DELETE FROM scim_user_email WHERE user_seq = ?1")?
        .execute([seq])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO scim_user_email(user_seq, integration_id, value_fold, type, is_primary)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (value, kind, primary) in &cols.emails {
        stmt.execute(params![seq, integration_id, value, kind, primary])?;
    }
    Ok(())
}

fn user_event(
    conn: &Connection,
    actor: &Actor,
    integration_id: &str,
    id: &str,
    cols: &Columns,
    event: &str,
) -> Result<()> {
    audit::record(
        conn,
        actor,
        audit::Entry {
            integration_id,
            event,
            resource_type: Some("User"),
            resource_id: Some(id),
            external_id: cols.external_id.as_deref(),
            detail: Some(&cols.user_name),
        },
    )
}

pub fn insert(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    resource: &Value,
    actor: &Actor,
) -> Result<StoredUser> {
    let s = settings::get(conn, integration_id)?;
    let cols = columns(resource)?;
    if let Some((seq, old_id)) = find_deprovisioned(conn, integration_id, &cols)? {
        return revive(
            conn,
            integration_id,
            seq,
            &old_id,
            resource,
            &cols,
            &s,
            actor,
        );
    }
    check_user_name_free(conn, integration_id, &cols, None)?;
    check_emails_free(conn, integration_id, &cols, None, &s)?;
    let now = crate::clock::now_string();
    conn.prepare_cached(
        "INSERT INTO scim_user(integration_id, id, user_name, user_name_fold, external_id,
            primary_email, display_name, active, created, last_modified, version, resource)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 1, ?10)",
    )?
    .execute(params![
        integration_id,
        id,
        cols.user_name,
        cols.user_name_fold,
        cols.external_id,
        cols.primary_email,
        cols.display_name,
        cols.active,
        now,
        serde_json::to_string(resource)?,
    ])?;
    let seq = conn.last_insert_rowid();
    write_emails(conn, seq, integration_id, &cols)?;
    entitlement::recompute_user(conn, integration_id, seq, &s)?;
    user_event(conn, actor, integration_id, id, &cols, audit::USER_CREATED)?;
    if !cols.active {
        user_event(
            conn,
            actor,
            integration_id,
            id,
            &cols,
            audit::USER_DEACTIVATED,
        )?;
    }
    Ok(StoredUser {
        id: id.to_string(),
        resource: resource.clone(),
        created: now.clone(),
        last_modified: now,
        version: 1,
    })
}

/// Writes new attributes over an existing row (live, or deprovisioned and
/// being revived): uniqueness checks, columns, a new version, emails and
/// entitlement. The caller writes the audit events.
fn rewrite(
    conn: &Connection,
    integration_id: &str,
    seq: i64,
    id: &str,
    resource: &Value,
    cols: &Columns,
    s: &Settings,
) -> Result<StoredUser> {
    check_user_name_free(conn, integration_id, cols, Some(seq))?;
    check_emails_free(conn, integration_id, cols, Some(seq), s)?;
    let now = crate::clock::now_string();
    let (created, version): (String, i64) = conn
        .prepare_cached(
            "UPDATE scim_user SET user_name = ?2, user_name_fold = ?3, external_id = ?4,
            primary_email = ?5, display_name = ?6, active = ?7, last_modified = ?8,
            version = version + 1, resource = ?9, deprovisioned = NULL
         WHERE seq = ?1 RETURNING created, version",
        )?
        .query_row(
            params![
                seq,
                cols.user_name,
                cols.user_name_fold,
                cols.external_id,
                cols.primary_email,
                cols.display_name,
                cols.active,
                now,
                serde_json::to_string(resource)?,
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    write_emails(conn, seq, integration_id, cols)?;
    entitlement::recompute_user(conn, integration_id, seq, s)?;
    Ok(StoredUser {
        id: id.to_string(),
        resource: resource.clone(),
        created,
        last_modified: now,
        version,
    })
}

/// Brings a deprovisioned record back with new attributes: same id, same
/// local data (PIN), a new version.
#[allow(clippy::too_many_arguments)]
fn revive(
    conn: &Connection,
    integration_id: &str,
    seq: i64,
    id: &str,
    resource: &Value,
    cols: &Columns,
    s: &Settings,
    actor: &Actor,
) -> Result<StoredUser> {
    let user = rewrite(conn, integration_id, seq, id, resource, cols, s)?;
    user_event(
        conn,
        actor,
        integration_id,
        id,
        cols,
        audit::USER_REACTIVATED,
    )?;
    Ok(user)
}

struct Current {
    seq: i64,
    user: StoredUser,
}

fn load(conn: &Connection, integration_id: &str, id: &str) -> Result<Option<Current>> {
    let row = conn
        .prepare_cached(
            "SELECT seq, resource, created, last_modified, version FROM scim_user
             WHERE integration_id = ?1 AND id = ?2 AND deprovisioned IS NULL",
        )?
        .query_row(params![integration_id, id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    row.map(|(seq, json, created, last_modified, version)| {
        Ok(Current {
            seq,
            user: StoredUser {
                id: id.to_string(),
                resource: serde_json::from_str(&json)?,
                created,
                last_modified,
                version,
            },
        })
    })
    .transpose()
}

pub fn not_found(id: &str) -> StoreError {
    ScimError::not_found(format!("no User with id '{id}'")).into()
}

pub fn get(conn: &Connection, integration_id: &str, id: &str) -> Result<Option<StoredUser>> {
    Ok(load(conn, integration_id, id)?.map(|c| c.user))
}

/// Replaces the resource. A replacement identical to what is stored changes
/// nothing, so the version is not bumped.
pub fn replace(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    resource: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<StoredUser> {
    let current = load(conn, integration_id, id)?.ok_or_else(|| not_found(id))?;
    check_if_match(if_match, current.user.version)?;
    if &current.user.resource == resource {
        return Ok(current.user);
    }
    let s = settings::get(conn, integration_id)?;
    let old = columns(&current.user.resource)?;
    let cols = columns(resource)?;
    let user = rewrite(conn, integration_id, current.seq, id, resource, &cols, &s)?;
    user_event(conn, actor, integration_id, id, &cols, audit::USER_UPDATED)?;
    if old.active && !cols.active {
        user_event(
            conn,
            actor,
            integration_id,
            id,
            &cols,
            audit::USER_DEACTIVATED,
        )?;
    } else if !old.active && cols.active {
        user_event(
            conn,
            actor,
            integration_id,
            id,
            &cols,
            audit::USER_REACTIVATED,
        )?;
    }
    Ok(user)
}

pub fn delete(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<()> {
    let s = settings::get(conn, integration_id)?;
    delete_as(conn, integration_id, id, if_match, actor, &s, s.delete_mode)
}

/// A delete in `mode` rather than the integration's: the breaker keeps the
/// record of a user whose revocation it holds, and removes it on release.
pub fn delete_as(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    if_match: Option<&str>,
    actor: &Actor,
    s: &Settings,
    mode: DeleteMode,
) -> Result<()> {
    let current = load(conn, integration_id, id)?.ok_or_else(|| not_found(id))?;
    check_if_match(if_match, current.user.version)?;
    let cols = columns(&current.user.resource)?;
    // Either way the user's memberships end; the groups' members changed.
    let groups = direct_groups(conn, current.seq)?;
    super::groups::bump_versions(conn, &groups)?;
    match mode {
        DeleteMode::Delete => {
            conn.prepare_cached("DELETE FROM scim_user WHERE seq = ?1")?
                .execute([current.seq])?;
            user_event(conn, actor, integration_id, id, &cols, audit::USER_DELETED)
        }
        DeleteMode::Deactivate => {
            let mut resource = current.user.resource.clone();
            if let Some(obj) = resource.as_object_mut() {
                obj.insert("active".into(), Value::Bool(false));
            }
            conn.prepare_cached(
                "UPDATE scim_user SET deprovisioned = ?2, active = 0, resource = ?3,
                    last_modified = ?2, version = version + 1
                 WHERE seq = ?1",
            )?
            .execute(params![
                current.seq,
                crate::clock::now_string(),
                serde_json::to_string(&resource)?
            ])?;
            conn.prepare_cached("DELETE FROM membership WHERE member_user_seq = ?1")?
                .execute([current.seq])?;
            entitlement::recompute_user(conn, integration_id, current.seq, s)?;
            user_event(
                conn,
                actor,
                integration_id,
                id,
                &cols,
                audit::USER_DEACTIVATED,
            )
        }
    }
}

fn direct_groups(conn: &Connection, user_seq: i64) -> Result<Vec<i64>> {
    let seqs = conn
        .prepare_cached("SELECT group_seq FROM membership WHERE member_user_seq = ?1")?
        .query_map([user_seq], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(seqs)
}

/// `scimd users purge`: removes deprovisioned records older than `before`.
pub fn purge_deprovisioned(
    conn: &Connection,
    integration_id: &str,
    before: &str,
    actor: &Actor,
) -> Result<usize> {
    super::integrations::get(conn, integration_id)?;
    // A user whose revocation the breaker holds is kept until its release.
    let mut stmt = conn.prepare(
        "DELETE FROM scim_user WHERE integration_id = ?1 AND deprovisioned IS NOT NULL
           AND deprovisioned < ?2 AND held = 0
         RETURNING id, user_name, external_id, display_name, primary_email",
    )?;
    let gone = stmt
        .query_map(params![integration_id, before], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, user_name, external_id, display_name, email) in &gone {
        let state = super::feed::UserState {
            id: id.clone(),
            user_name: user_name.clone(),
            external_id: external_id.clone(),
            display_name: display_name.clone(),
            email: email.clone(),
            active: false,
            entitled: false,
            held: false,
            roles: Vec::new(),
            pin: None,
        };
        let mut data = state.to_json();
        data["purged"] = Value::Bool(true);
        super::feed::record(
            conn,
            integration_id,
            super::feed::EventType::UserDeleted,
            id,
            data,
        )?;
        audit::record(
            conn,
            actor,
            audit::Entry {
                integration_id,
                event: audit::USER_DELETED,
                resource_type: Some("User"),
                resource_id: Some(id),
                external_id: external_id.as_deref(),
                detail: Some(&format!("{user_name} purged after deprovisioning")),
            },
        )?;
    }
    Ok(gone.len())
}

/// One page of a SCIM query over the integration's live users (never the
/// deprovisioned ones), and the exact total. See `store::search`.
pub fn search(
    conn: &Connection,
    integration_id: &str,
    q: &search::Query,
) -> Result<search::Page<StoredUser>> {
    let page = search::run(
        conn,
        &sql_filter::USERS,
        "u.id, u.resource, u.created, u.last_modified, u.version",
        integration_id,
        q,
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    )?;
    let mut users = Vec::with_capacity(page.items.len());
    for (id, json, created, last_modified, version) in page.items {
        users.push(StoredUser {
            id,
            resource: serde_json::from_str(&json)?,
            created,
            last_modified,
            version,
        });
    }
    Ok(search::Page {
        total: page.total,
        items: users,
        next: page.next,
        positions: page.positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live_counter(conn: &Connection) -> (i64, i64) {
        let kept: i64 = conn
            .query_row(
                "SELECT live FROM live_user_count WHERE integration_id = 'int_a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let counted: i64 = conn
            .query_row(
                "SELECT count(*) FROM scim_user WHERE integration_id = 'int_a' AND deprovisioned IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (kept, counted)
    }

    #[test]
    fn live_user_counter_follows_every_lifecycle_step() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&conn).unwrap();
        crate::store::integrations::create(&conn, "int_a", "a").unwrap();
        let actor = Actor::scim("r");
        let user =
            |name: &str| json!({"schemas": [crate::scim::schema::USER_URN], "userName": name});
        insert(&conn, "int_a", "u1", &user("one"), &actor).unwrap();
        insert(&conn, "int_a", "u2", &user("two"), &actor).unwrap();
        assert_eq!(live_counter(&conn), (2, 2));
        delete(&conn, "int_a", "u1", None, &actor).unwrap(); // deprovisions (default mode)
        assert_eq!(live_counter(&conn), (1, 1));
        insert(&conn, "int_a", "u3", &user("ONE"), &actor).unwrap(); // revives u1
        assert_eq!(live_counter(&conn), (2, 2));
        conn.execute("UPDATE integration SET delete_mode = 'delete'", [])
            .unwrap();
        delete(&conn, "int_a", "u2", None, &actor).unwrap();
        assert_eq!(live_counter(&conn), (1, 1));
    }
}
