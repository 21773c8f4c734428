//! Roles, entitlement and PINs: the local view of who may get in. A user's
//! roles are the mapped roles of every group they belong to, directly or
//! through nested groups (plus the groups' names with groups-as-roles). A
//! user is entitled when live, active and (has a role, or mappings are not
//! required). Entitled members get a PIN when PINs are on. All of it is
//! recomputed inside the transaction of the change that affects it, so
//! reading it is a plain indexed query.

use super::audit::{self, Actor};
use super::settings::{self, Settings};
use super::{feed, Result, StoreError};
use crate::scim::error::ScimError;
use rand::rngs::OsRng;
use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};

/// The sorted, de-duplicated roles of one user.
fn roles_of(
    conn: &Connection,
    integration_id: &str,
    user_seq: i64,
    s: &Settings,
) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE up(seq) AS (
             SELECT group_seq FROM membership WHERE member_user_seq = ?1
             UNION
             SELECT m.group_seq FROM up CROSS JOIN membership m ON m.member_group_seq = up.seq
         )
         SELECT mp.role FROM up
             CROSS JOIN scim_group g ON g.seq = up.seq
             CROSS JOIN mapping mp ON mp.integration_id = ?2
                 AND mp.group_key_fold IN (lower(g.id), lower(g.external_id), lower(g.display_name))
         UNION
         SELECT g.display_name FROM up CROSS JOIN scim_group g ON g.seq = up.seq WHERE ?3
         ORDER BY 1",
    )?;
    let roles = stmt
        .query_map(params![user_seq, integration_id, s.groups_as_roles], |r| {
            r.get(0)
        })?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(roles)
}

/// Draws a PIN no other user of the integration holds.
fn unique_pin(conn: &Connection, integration_id: &str, digits: u8) -> Result<String> {
    let space = 10u64.pow(u32::from(digits));
    for _ in 0..1000 {
        let pin = format!(
            "{:0width$}",
            OsRng.gen_range(0..space),
            width = usize::from(digits)
        );
        let taken: Option<i64> = conn
            .prepare_cached("SELECT 1 FROM scim_user WHERE integration_id = ?1 AND pin = ?2")?
            .query_row(params![integration_id, pin], |r| r.get(0))
            .optional()?;
        if taken.is_none() {
            return Ok(pin);
        }
    }
    Err(StoreError::Scim(ScimError::new(
        409,
        None,
        format!("no free {digits}-digit PIN is left in this integration; raise --pin-digits"),
    )))
}

/// Recomputes one user's roles, entitlement and (if needed) PIN, and hands
/// the change of local state to the feed. A revocation may be held by the
/// mass-deactivation breaker (see `breaker`): the user then stays entitled,
/// marked `held`.
pub fn recompute_user(
    conn: &Connection,
    integration_id: &str,
    user_seq: i64,
    s: &Settings,
) -> Result<()> {
    recompute(conn, integration_id, user_seq, s, Hold::AsTheBreakerSays)
}

/// Whether a revocation may be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    AsTheBreakerSays,
    /// `breaker release`: apply it.
    Never,
}

pub(crate) fn recompute(
    conn: &Connection,
    integration_id: &str,
    user_seq: i64,
    s: &Settings,
    hold: Hold,
) -> Result<()> {
    let Some((row, deprovisioned)) = conn
        .prepare_cached(
            "SELECT id, user_name, external_id, display_name, primary_email, active, entitled,
                    held, roles, pin, deprovisioned IS NOT NULL
             FROM scim_user WHERE seq = ?1",
        )?
        .query_row([user_seq], |r| {
            Ok((
                StateRow {
                    id: r.get(0)?,
                    user_name: r.get(1)?,
                    external_id: r.get(2)?,
                    display_name: r.get(3)?,
                    email: r.get(4)?,
                    active: r.get(5)?,
                    entitled: r.get(6)?,
                    held: r.get(7)?,
                    roles: r.get(8)?,
                    pin: r.get(9)?,
                },
                r.get::<_, bool>(10)?,
            ))
        })
        .optional()?
    else {
        return Ok(());
    };
    let before = row.clone().into_state(s)?;
    let roles = roles_of(conn, integration_id, user_seq, s)?;
    let roles_json = serde_json::to_string(&roles)?;
    let wanted = !deprovisioned && row.active && (!roles.is_empty() || !s.require_mapping);
    let removal = !row.active || deprovisioned;
    let held = row.entitled
        && !wanted
        && hold == Hold::AsTheBreakerSays
        && super::breaker::holds(conn, integration_id, &s.breaker, removal)?;
    let entitled = wanted || held;
    let pin = row.pin.clone();
    let wrong_length = pin
        .as_ref()
        .is_some_and(|p| s.pin_digits != 0 && p.len() != usize::from(s.pin_digits));
    let new_pin = if entitled && s.pin_digits > 0 && (pin.is_none() || wrong_length) {
        if wrong_length {
            // Free the old one first so the draw can never collide with it.
            conn.prepare_cached("UPDATE scim_user SET pin = NULL WHERE seq = ?1")?
                .execute([user_seq])?;
        }
        Some(unique_pin(conn, integration_id, s.pin_digits)?)
    } else {
        None
    };
    if roles_json != row.roles || entitled != row.entitled || new_pin.is_some() || held != row.held
    {
        conn.prepare_cached(
            "UPDATE scim_user SET roles = ?2, entitled = ?3, pin = coalesce(?4, pin), held = ?5
             WHERE seq = ?1",
        )?
        .execute(params![user_seq, roles_json, entitled, new_pin, held])?;
    }
    let after = StateRow {
        entitled,
        held,
        roles: roles_json,
        pin: new_pin.or(pin),
        ..row
    }
    .into_state(s)?;
    feed::recomputed(
        conn,
        integration_id,
        feed::Recomputed {
            before: before.local(),
            after,
        },
    )
}

/// The columns a user's [`feed::UserState`] is read from.
#[derive(Clone)]
struct StateRow {
    id: String,
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    active: bool,
    entitled: bool,
    held: bool,
    roles: String,
    pin: Option<String>,
}

impl StateRow {
    /// With PINs off, stored PINs are kept but never shown.
    fn into_state(self, s: &Settings) -> Result<feed::UserState> {
        Ok(feed::UserState {
            id: self.id,
            user_name: self.user_name,
            external_id: self.external_id,
            display_name: self.display_name,
            email: self.email,
            active: self.active,
            entitled: self.entitled,
            held: self.held,
            roles: serde_json::from_str(&self.roles)?,
            pin: self.pin.filter(|_| s.pin_digits > 0),
        })
    }
}

/// A live user's state as the feed shows it, by id; None when there is none.
pub fn user_state(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    s: &Settings,
) -> Result<Option<feed::UserState>> {
    conn.prepare_cached(
        "SELECT id, user_name, external_id, display_name, primary_email, active, entitled,
                held, roles, pin
         FROM scim_user WHERE integration_id = ?1 AND id = ?2 AND deprovisioned IS NULL",
    )?
    .query_row(params![integration_id, id], |r| {
        Ok(StateRow {
            id: r.get(0)?,
            user_name: r.get(1)?,
            external_id: r.get(2)?,
            display_name: r.get(3)?,
            email: r.get(4)?,
            active: r.get(5)?,
            entitled: r.get(6)?,
            held: r.get(7)?,
            roles: r.get(8)?,
            pin: r.get(9)?,
        })
    })
    .optional()?
    .map(|row| row.into_state(s))
    .transpose()
}

/// Users below a group: its user members and those of its nested groups.
/// The nested groups are walked by `groups::groups_below`, then each one's
/// user members read through the `membership_user` index. The recursive
/// query this replaces was planned, with statistics from a small file, as a
/// scan of every user membership of the database per call.
pub fn users_under_group(conn: &Connection, group_seq: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT member_user_seq FROM membership INDEXED BY membership_user
         WHERE group_seq = ?1 AND member_user_seq IS NOT NULL",
    )?;
    let mut seqs = Vec::new();
    for g in super::groups::groups_below(conn, group_seq, None, None)? {
        for seq in stmt.query_map([g], |r| r.get::<_, i64>(0))? {
            seqs.push(seq?);
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    Ok(seqs)
}

pub fn recompute_users(conn: &Connection, integration_id: &str, seqs: &[i64]) -> Result<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    let s = settings::get(conn, integration_id)?;
    for seq in seqs {
        recompute_user(conn, integration_id, *seq, &s)?;
    }
    Ok(())
}

/// Users recomputed per transaction by `recompute_integration`: small
/// enough that the server's writer never waits long for the file.
pub const RECOMPUTE_CHUNK: i64 = 2000;

/// After a mapping or settings change, which the caller has committed: every
/// user of the integration, `RECOMPUTE_CHUNK` users per transaction, so a
/// large integration never holds the write lock past the busy timeout of a
/// running server (or of another CLI command). Each chunk is idempotent; if
/// the command is interrupted, running it again (or any later change of
/// those users) completes the recomputation.
pub fn recompute_integration(conn: &Connection, integration_id: &str) -> Result<()> {
    let mut after = 0i64;
    loop {
        let done = super::in_transaction(conn, |c| {
            let seqs = c
                .prepare_cached(
                    "SELECT seq FROM scim_user WHERE integration_id = ?1 AND seq > ?2
                     ORDER BY seq LIMIT ?3",
                )?
                .query_map(params![integration_id, after, RECOMPUTE_CHUNK], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            recompute_users(c, integration_id, &seqs)?;
            Ok(seqs.last().copied())
        })?;
        match done {
            Some(last) => after = last,
            None => return Ok(()),
        }
    }
}

/// An entitled member as local applications see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Member {
    pub id: String,
    #[serde(rename = "userName")]
    pub user_name: String,
    #[serde(rename = "externalId")]
    pub external_id: Option<String>,
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub roles: Vec<String>,
    pub pin: Option<String>,
    /// Entitled only because the breaker holds the revocation.
    pub held: bool,
}

/// Entitled members, optionally only those holding `role`.
pub fn members(conn: &Connection, integration_id: &str, role: Option<&str>) -> Result<Vec<Member>> {
    let s = settings::get(conn, integration_id)?;
    let mut stmt = conn.prepare(
        "SELECT id, user_name, external_id, display_name, primary_email, active, roles, pin, held
         FROM scim_user WHERE integration_id = ?1 AND entitled = 1
           AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(roles) WHERE value = ?2))
         ORDER BY user_name_fold",
    )?;
    let rows = stmt.query_map(params![integration_id, role], |r| {
        let roles: String = r.get(6)?;
        Ok((
            Member {
                id: r.get(0)?,
                user_name: r.get(1)?,
                external_id: r.get(2)?,
                display_name: r.get(3)?,
                email: r.get(4)?,
                active: r.get(5)?,
                roles: Vec::new(),
                pin: r.get(7)?,
                held: r.get(8)?,
            },
            roles,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut m, roles) = row?;
        m.roles = serde_json::from_str(&roles)?;
        if s.pin_digits == 0 {
            m.pin = None;
        }
        out.push(m);
    }
    Ok(out)
}

/// Draws a new PIN for one user (by id or userName); returns it.
pub fn reset_pin(
    conn: &Connection,
    integration_id: &str,
    user: &str,
    actor: &Actor,
) -> Result<(String, String)> {
    let s = settings::get(conn, integration_id)?;
    if s.pin_digits == 0 {
        return Err(StoreError::Scim(ScimError::invalid_value(format!(
            "PINs are off for {integration_id}; turn them on with `scimd integration set {integration_id} --pin-digits 6`"
        ))));
    }
    let found: Option<(i64, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT seq, id, external_id FROM scim_user WHERE integration_id = ?1
               AND (id = ?2 OR user_name_fold = lower(?2)) AND deprovisioned IS NULL",
        )?
        .query_row(params![integration_id, user], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((seq, id, external_id)) = found else {
        return Err(StoreError::Scim(ScimError::not_found(format!(
            "no user '{user}' (by id or userName) in {integration_id}"
        ))));
    };
    conn.prepare_cached("UPDATE scim_user SET pin = NULL WHERE seq = ?1")?
        .execute([seq])?;
    let pin = unique_pin(conn, integration_id, s.pin_digits)?;
    conn.prepare_cached("UPDATE scim_user SET pin = ?2 WHERE seq = ?1")?
        .execute(params![seq, pin])?;
    audit::record(
        conn,
        actor,
        audit::Entry {
            integration_id,
            event: audit::PIN_RESET,
            resource_type: Some("User"),
            resource_id: Some(&id),
            external_id: external_id.as_deref(),
            detail: None,
        },
    )?;
    if let Some(state) = user_state(conn, integration_id, &id, &s)? {
        feed::record(
            conn,
            integration_id,
            feed::EventType::PinSet,
            &id,
            state.to_json(),
        )?;
    }
    Ok((id, pin))
}
