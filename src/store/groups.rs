//! Group rows and the membership table. A group's JSON never holds its
//! members: they are rows in `membership`, so adding or removing one member
//! costs one indexed statement whatever the group's size. Every change bumps
//! the group's version and writes audit rows in the same transaction.

use super::audit::{self, Actor};
use super::{entitlement, search, sql_filter, Result, StoreError};
use crate::scim::error::ScimError;
use crate::scim::etag::check_if_match;
use crate::scim::filter::{matches_element, Filter};
use crate::scim::patch::{MemberOp, MemberRef};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use std::collections::HashSet;

pub const GROUP_CREATED: &str = "ACCOUNT_SCIM_GROUP_CREATED";
pub const GROUP_UPDATED: &str = "ACCOUNT_SCIM_GROUP_UPDATED";
pub const GROUP_DELETED: &str = "ACCOUNT_SCIM_GROUP_DELETED";
pub const MEMBER_ADDED: &str = "ACCOUNT_SCIM_GROUP_MEMBER_ADDED";
pub const MEMBER_REMOVED: &str = "ACCOUNT_SCIM_GROUP_MEMBER_REMOVED";

#[derive(Debug, Clone)]
pub struct StoredGroup {
    pub id: String,
    pub resource: Value,
    pub created: String,
    pub last_modified: String,
    pub version: i64,
    /// Loaded only when the response will show them.
    pub members: Option<Vec<Member>>,
}

/// A member as shown to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    /// "User" or "Group". No `display`: it is not part of RFC 7643's Group
    /// members, and a computed one makes a member differ from what the IdP sent.
    pub kind: &'static str,
}

impl Member {
    pub fn to_json(&self, base_url: &str) -> Value {
        let collection = if self.kind == "Group" {
            "Groups"
        } else {
            "Users"
        };
        json!({
            "value": self.id,
            "$ref": format!("{base_url}/{collection}/{}", self.id),
            "type": self.kind,
        })
    }
}

/// A member resolved to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    User(i64),
    Group(i64),
}

impl Target {
    fn kind(self) -> &'static str {
        match self {
            Target::User(_) => "User",
            Target::Group(_) => "Group",
        }
    }
}

pub fn not_found(id: &str) -> StoreError {
    ScimError::not_found(format!("no Group with id '{id}'")).into()
}

fn display_name(resource: &Value) -> Result<String> {
    resource
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ScimError::invalid_value("displayName is required").into())
}

fn external_id(resource: &Value) -> Option<String> {
    resource
        .get("externalId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn check_external_id_free(
    conn: &Connection,
    integration_id: &str,
    external_id: Option<&str>,
    except_seq: Option<i64>,
) -> Result<()> {
    let Some(ext) = external_id else {
        return Ok(());
    };
    let taken: Option<i64> = conn
        .prepare_cached(
            "SELECT seq FROM scim_group WHERE integration_id = ?1 AND external_id = ?2",
        )?
        .query_row(params![integration_id, ext], |r| r.get(0))
        .optional()?;
    match taken {
        Some(seq) if Some(seq) != except_seq => Err(ScimError::uniqueness(format!(
            "externalId '{ext}' is already used by another group in this integration"
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Finds a member id among the integration's users, then its groups. The
/// declared `type`, when given, narrows the search.
fn resolve_member(conn: &Connection, integration_id: &str, m: &MemberRef) -> Result<Target> {
    let kind = m.kind.as_deref().map(str::to_ascii_lowercase);
    if kind.as_deref() != Some("group") {
        let user: Option<i64> = conn
            .prepare_cached(
                "SELECT seq FROM scim_user WHERE integration_id = ?1 AND id = ?2 AND deprovisioned IS NULL",
            )?
            .query_row(params![integration_id, m.value], |r| r.get(0))
            .optional()?;
        if let Some(seq) = user {
            return Ok(Target::User(seq));
        }
    }
    if kind.as_deref() != Some("user") {
        let group: Option<i64> = conn
            .prepare_cached("SELECT seq FROM scim_group WHERE integration_id = ?1 AND id = ?2")?
            .query_row(params![integration_id, m.value], |r| r.get(0))
            .optional()?;
        if let Some(seq) = group {
            return Ok(Target::Group(seq));
        }
    }
    Err(ScimError::invalid_value(format!(
        "member '{}' is not a {} of this integration",
        m.value,
        match kind.as_deref() {
            Some("group") => "Group",
            Some("user") => "User",
            _ => "User or Group",
        }
    ))
    .into())
}

/// Most groups a nested member may bring along (itself and every group
/// below it). Nesting in the directories of a small office is a few levels
/// and a few groups; the bound keeps every walk of a hierarchy short, so a
/// Bulk of 1000 chained groups cannot hold the writer (each check walks at
/// most this many groups).
pub const NESTED_GROUPS_MAX: usize = 100;

/// Would making `member` a member of `group` create a cycle? True when the
/// group is the member itself or is reachable downward from it. A member
/// with more than `NESTED_GROUPS_MAX` groups below it is refused outright.
fn creates_cycle(conn: &Connection, group_seq: i64, member_seq: i64) -> Result<bool> {
    if group_seq == member_seq {
        return Ok(true);
    }
    let below = groups_below(
        conn,
        member_seq,
        Some(group_seq),
        Some(NESTED_GROUPS_MAX + 1),
    )?;
    if below.len() > NESTED_GROUPS_MAX && !below.contains(&group_seq) {
        return Err(ScimError::invalid_value(format!(
            "a nested group may bring at most {NESTED_GROUPS_MAX} groups (itself and those below it) into another"
        ))
        .into());
    }
    Ok(below.contains(&group_seq))
}

/// The groups reachable downward from `start` (itself included), walked in
/// Rust one index lookup per group. A recursive CTE did the same, but
/// SQLite planned it with a Bloom filter over the whole membership table
/// rebuilt at every step: a chain of 1000 nested groups in one Bulk then
/// held the writer for minutes. Stops early when `stop_at` is reached.
pub(crate) fn groups_below(
    conn: &Connection,
    start: i64,
    stop_at: Option<i64>,
    at_most: Option<usize>,
) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT member_group_seq FROM membership INDEXED BY membership_group
         WHERE group_seq = ?1 AND member_group_seq IS NOT NULL",
    )?;
    let mut seen: HashSet<i64> = HashSet::from([start]);
    let mut order = vec![start];
    let mut next = 0;
    while let Some(&g) = order.get(next) {
        next += 1;
        let children = stmt
            .query_map([g], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        for c in children {
            if seen.insert(c) {
                order.push(c);
                if Some(c) == stop_at || at_most.is_some_and(|n| order.len() >= n) {
                    return Ok(order);
                }
            }
        }
    }
    Ok(order)
}

/// Adds one member; returns whether it was new.
fn add_member(conn: &Connection, group_seq: i64, target: Target, member_id: &str) -> Result<bool> {
    let n = match target {
        Target::User(seq) => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO membership(group_seq, member_user_seq) VALUES (?1, ?2)",
            )?
            .execute(params![group_seq, seq])?,
        Target::Group(seq) => {
            if creates_cycle(conn, group_seq, seq)? {
                return Err(ScimError::invalid_value(format!(
                    "adding group '{member_id}' as a member would create a cycle of nested groups"
                ))
                .into());
            }
            conn.prepare_cached(
                "INSERT OR IGNORE INTO membership(group_seq, member_group_seq) VALUES (?1, ?2)",
            )?
            .execute(params![group_seq, seq])?
        }
    };
    Ok(n > 0)
}

fn remove_member_by_id(
    conn: &Connection,
    integration_id: &str,
    group_seq: i64,
    member_id: &str,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "DELETE FROM membership WHERE group_seq = ?1 AND (
                 member_user_seq = (SELECT seq FROM scim_user WHERE integration_id = ?2 AND id = ?3)
              OR member_group_seq = (SELECT seq FROM scim_group WHERE integration_id = ?2 AND id = ?3))",
        )?
        .execute(params![group_seq, integration_id, member_id])?;
    Ok(n > 0)
}

fn remove_all_members(conn: &Connection, group_seq: i64) -> Result<Vec<Member>> {
    let members = member_list(conn, group_seq)?;
    conn.prepare_cached("DELETE FROM membership WHERE group_seq = ?1")?
        .execute([group_seq])?;
    Ok(members)
}

/// Most members one list response carries, over all its groups.
pub const LIST_MEMBERS_MAX: usize = 10_000;

fn member_count(conn: &Connection, group_seq: i64) -> Result<usize> {
    let n: i64 = conn
        // Two counts, so each reads its own partial index.
        .prepare_cached(
            "SELECT (SELECT count(*) FROM membership WHERE group_seq = ?1 AND member_user_seq IS NOT NULL)
                  + (SELECT count(*) FROM membership WHERE group_seq = ?1 AND member_group_seq IS NOT NULL)",
        )?
        .query_row([group_seq], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

fn member_list(conn: &Connection, group_seq: i64) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, 'User' FROM membership m
             JOIN scim_user u ON u.seq = m.member_user_seq WHERE m.group_seq = ?1
         UNION ALL
         SELECT g.id, 'Group' FROM membership m
             JOIN scim_group g ON g.seq = m.member_group_seq WHERE m.group_seq = ?1",
    )?;
    let rows = stmt.query_map([group_seq], |r| {
        let kind: String = r.get(1)?;
        Ok(Member {
            id: r.get(0)?,
            kind: if kind == "Group" { "Group" } else { "User" },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

struct Audit<'a> {
    conn: &'a Connection,
    actor: &'a Actor,
    integration_id: &'a str,
    group_id: &'a str,
    external_id: Option<&'a str>,
}

impl Audit<'_> {
    /// A member added or removed: its audit row and its feed event.
    fn member(&self, added: bool, member_id: &str, kind: &'static str) -> Result<()> {
        let event = if added { MEMBER_ADDED } else { MEMBER_REMOVED };
        self.event(event, Some(member_id))?;
        super::feed::membership(
            self.conn,
            self.integration_id,
            self.group_id,
            added,
            member_id,
            kind,
        )
    }

    fn event(&self, event: &str, detail: Option<&str>) -> Result<()> {
        audit::record(
            self.conn,
            self.actor,
            audit::Entry {
                integration_id: self.integration_id,
                event,
                resource_type: Some("Group"),
                resource_id: Some(self.group_id),
                external_id: self.external_id,
                detail,
            },
        )
    }
}

/// The users whose roles a membership change of `target` can affect.
fn users_of(conn: &Connection, target: Target) -> Result<Vec<i64>> {
    match target {
        Target::User(seq) => Ok(vec![seq]),
        Target::Group(seq) => entitlement::users_under_group(conn, seq),
    }
}

/// Applies membership operations; returns whether membership changed, and
/// adds to `affected` the users whose roles may have changed. A single add or
/// remove touches only that member, whatever the group's size. The users
/// below this group, or below a nested group added or removed, are expanded
/// once per call, however many operations name them: 1000 `replace members`
/// of a large nested group cost one expansion before and one after, not
/// one per operation.
fn apply_member_ops(
    conn: &Connection,
    integration_id: &str,
    group_seq: i64,
    ops: &[MemberOp],
    audit: &Audit<'_>,
    affected: &mut Vec<i64>,
) -> Result<bool> {
    let whole_set = ops.iter().any(|op| {
        matches!(
            op,
            MemberOp::RemoveMatching(_) | MemberOp::RemoveAll | MemberOp::ReplaceAll(_)
        )
    });
    if whole_set {
        // Everyone below the group before the change...
        affected.extend(entitlement::users_under_group(conn, group_seq)?);
    }
    let mut expanded: HashSet<i64> = HashSet::new();
    let mut touch = |conn: &Connection, target: Target, affected: &mut Vec<i64>| -> Result<()> {
        match target {
            Target::User(seq) => affected.push(seq),
            Target::Group(seq) => {
                if expanded.insert(seq) {
                    affected.extend(users_of(conn, target)?);
                }
            }
        }
        Ok(())
    };
    let mut changed = false;
    for op in ops {
        match op {
            MemberOp::Add(list) => {
                for m in list {
                    let target = resolve_member(conn, integration_id, m)?;
                    if add_member(conn, group_seq, target, &m.value)? {
                        audit.member(true, &m.value, target.kind())?;
                        touch(conn, target, affected)?;
                        changed = true;
                    }
                }
            }
            MemberOp::Remove(ids) => {
                for id in ids {
                    let probe = MemberRef {
                        value: id.clone(),
                        kind: None,
                    };
                    let target = resolve_member(conn, integration_id, &probe).ok();
                    if remove_member_by_id(conn, integration_id, group_seq, id)? {
                        audit.member(false, id, target.map_or("User", Target::kind))?;
                        if let Some(t) = target {
                            touch(conn, t, affected)?;
                        }
                        changed = true;
                    }
                }
            }
            MemberOp::RemoveMatching(filter) => {
                changed |= remove_matching(conn, integration_id, group_seq, filter, audit)?;
            }
            MemberOp::ReplaceAll(list) => {
                changed |= replace_members(conn, integration_id, group_seq, list, audit)?;
            }
            MemberOp::RemoveAll => {
                let removed = remove_all_members(conn, group_seq)?;
                for m in &removed {
                    audit.member(false, &m.id, m.kind)?;
                }
                changed |= !removed.is_empty();
            }
        }
    }
    if whole_set && changed {
        // ...and everyone below it after.
        affected.extend(entitlement::users_under_group(conn, group_seq)?);
    }
    Ok(changed)
}

fn recompute(conn: &Connection, integration_id: &str, mut affected: Vec<i64>) -> Result<()> {
    affected.sort_unstable();
    affected.dedup();
    entitlement::recompute_users(conn, integration_id, &affected)
}

/// Filters other than `value eq` are rare; they are evaluated member by
/// member with the same rules as every other value filter.
fn remove_matching(
    conn: &Connection,
    integration_id: &str,
    group_seq: i64,
    filter: &Filter,
    audit: &Audit<'_>,
) -> Result<bool> {
    let mut changed = false;
    for m in member_list(conn, group_seq)? {
        let element = m.to_json("");
        let case_exact = |name: &str| name.eq_ignore_ascii_case("value");
        if matches_element(filter, &element, &case_exact)
            && remove_member_by_id(conn, integration_id, group_seq, &m.id)?
        {
            audit.member(false, &m.id, m.kind)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Makes the member set exactly `list`, touching only the difference.
fn replace_members(
    conn: &Connection,
    integration_id: &str,
    group_seq: i64,
    list: &[MemberRef],
    audit: &Audit<'_>,
) -> Result<bool> {
    let mut wanted = Vec::with_capacity(list.len());
    for m in list {
        wanted.push((resolve_member(conn, integration_id, m)?, m.value.clone()));
    }
    let current = member_list(conn, group_seq)?;
    let mut changed = false;
    for m in &current {
        if !wanted.iter().any(|(_, id)| id == &m.id)
            && remove_member_by_id(conn, integration_id, group_seq, &m.id)?
        {
            audit.member(false, &m.id, m.kind)?;
            changed = true;
        }
    }
    for (target, id) in wanted {
        if add_member(conn, group_seq, target, &id)? {
            audit.member(true, &id, target.kind())?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Groups whose membership changed as a side effect (a member deleted) get a
/// new version, so their ETags stay honest.
pub(crate) fn bump_versions(conn: &Connection, group_seqs: &[i64]) -> Result<()> {
    let now = crate::clock::now_string();
    let mut stmt = conn.prepare_cached(
        "UPDATE scim_group SET version = version + 1, last_modified = ?2 WHERE seq = ?1",
    )?;
    for seq in group_seqs {
        stmt.execute(params![seq, now])?;
    }
    Ok(())
}

/// Splits the `members` array off a normalised group body.
pub fn take_members(resource: &mut Value) -> Vec<MemberRef> {
    let members = resource
        .as_object_mut()
        .and_then(|o| o.remove("members"))
        .and_then(|v| match v {
            Value::Array(a) => Some(a),
            _ => None,
        })
        .unwrap_or_default();
    members
        .iter()
        .filter_map(|m| {
            Some(MemberRef {
                value: m.get("value")?.as_str()?.to_string(),
                kind: m.get("type").and_then(Value::as_str).map(str::to_string),
            })
        })
        .collect()
}

pub fn insert(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    resource: &Value,
    members: &[MemberRef],
    actor: &Actor,
) -> Result<StoredGroup> {
    let name = display_name(resource)?;
    let ext = external_id(resource);
    check_external_id_free(conn, integration_id, ext.as_deref(), None)?;
    let now = crate::clock::now_string();
    conn.prepare_cached(
        "INSERT INTO scim_group(integration_id, id, display_name, external_id, created,
             last_modified, version, resource)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1, ?6)",
    )?
    .execute(params![
        integration_id,
        id,
        name,
        ext,
        now,
        serde_json::to_string(resource)?
    ])?;
    let seq = conn.last_insert_rowid();
    let audit = Audit {
        conn,
        actor,
        integration_id,
        group_id: id,
        external_id: ext.as_deref(),
    };
    audit.event(GROUP_CREATED, Some(&name))?;
    if !members.is_empty() {
        let mut affected = Vec::new();
        let ops = [MemberOp::Add(members.to_vec())];
        apply_member_ops(conn, integration_id, seq, &ops, &audit, &mut affected)?;
        recompute(conn, integration_id, affected)?;
    }
    Ok(StoredGroup {
        id: id.to_string(),
        resource: resource.clone(),
        created: now.clone(),
        last_modified: now,
        version: 1,
        members: None,
    })
}

struct Current {
    seq: i64,
    group: StoredGroup,
}

fn load(conn: &Connection, integration_id: &str, id: &str) -> Result<Option<Current>> {
    let row = conn
        .prepare_cached(
            "SELECT seq, resource, created, last_modified, version FROM scim_group
             WHERE integration_id = ?1 AND id = ?2",
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
            group: StoredGroup {
                id: id.to_string(),
                resource: serde_json::from_str(&json)?,
                created,
                last_modified,
                version,
                members: None,
            },
        })
    })
    .transpose()
}

/// Reads one group; members only when asked for, so a response that
/// excludes them never touches the membership table.
pub fn get(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    with_members: bool,
) -> Result<Option<StoredGroup>> {
    let Some(mut current) = load(conn, integration_id, id)? else {
        return Ok(None);
    };
    if with_members {
        current.group.members = Some(member_list(conn, current.seq)?);
    }
    Ok(Some(current.group))
}

/// Writes a new resource and member changes; bumps the version only when
/// something changed.
#[allow(clippy::too_many_arguments)]
pub fn update(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    resource: &Value,
    member_ops: &[MemberOp],
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<StoredGroup> {
    let current = load(conn, integration_id, id)?.ok_or_else(|| not_found(id))?;
    check_if_match(if_match, current.group.version)?;
    let name = display_name(resource)?;
    let ext = external_id(resource);
    check_external_id_free(conn, integration_id, ext.as_deref(), Some(current.seq))?;
    let audit = Audit {
        conn,
        actor,
        integration_id,
        group_id: id,
        external_id: ext.as_deref(),
    };
    let mut affected = Vec::new();
    let members_changed = apply_member_ops(
        conn,
        integration_id,
        current.seq,
        member_ops,
        &audit,
        &mut affected,
    )?;
    let resource_changed = &current.group.resource != resource;
    if !members_changed && !resource_changed {
        return Ok(current.group);
    }
    let now = crate::clock::now_string();
    let version = current.group.version + 1;
    conn.prepare_cached(
        "UPDATE scim_group SET display_name = ?2, external_id = ?3, last_modified = ?4,
             version = ?5, resource = ?6 WHERE seq = ?1",
    )?
    .execute(params![
        current.seq,
        name,
        ext,
        now,
        version,
        serde_json::to_string(resource)?
    ])?;
    if resource_changed {
        audit.event(GROUP_UPDATED, Some(&name))?;
        // A new name or externalId can match (or stop matching) a mapping.
        affected.extend(entitlement::users_under_group(conn, current.seq)?);
    }
    recompute(conn, integration_id, affected)?;
    Ok(StoredGroup {
        id: id.to_string(),
        resource: resource.clone(),
        created: current.group.created,
        last_modified: now,
        version,
        members: None,
    })
}

pub fn delete(
    conn: &Connection,
    integration_id: &str,
    id: &str,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<()> {
    let current = load(conn, integration_id, id)?.ok_or_else(|| not_found(id))?;
    check_if_match(if_match, current.group.version)?;
    let ext = external_id(&current.group.resource);
    let affected = entitlement::users_under_group(conn, current.seq)?;
    // The groups this one was a member of lose a member: new version and an
    // audit row each, as if it had been removed by PATCH.
    let parents: Vec<(i64, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT g.seq, g.id, g.external_id FROM membership m JOIN scim_group g ON g.seq = m.group_seq
             WHERE m.member_group_seq = ?1",
        )?
        .query_map([current.seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    conn.prepare_cached("DELETE FROM scim_group WHERE seq = ?1")?
        .execute([current.seq])?;
    bump_versions(conn, &parents.iter().map(|p| p.0).collect::<Vec<_>>())?;
    for (_, parent_id, parent_ext) in &parents {
        let parent = Audit {
            conn,
            actor,
            integration_id,
            group_id: parent_id,
            external_id: parent_ext.as_deref(),
        };
        parent.member(false, id, "Group")?;
    }
    recompute(conn, integration_id, affected)?;
    let audit = Audit {
        conn,
        actor,
        integration_id,
        group_id: id,
        external_id: ext.as_deref(),
    };
    let name = display_name(&current.group.resource).unwrap_or_default();
    audit.event(GROUP_DELETED, Some(&name))
}

/// One page of a SCIM query over the integration's groups, and the exact
/// total. Members are read only with `with_members`, so a query whose
/// response excludes them never touches the membership table for output
/// (a `members` filter still reads it, in SQL). See `store::search`.
pub fn search(
    conn: &Connection,
    integration_id: &str,
    q: &search::Query,
    with_members: bool,
) -> Result<search::Page<StoredGroup>> {
    let page = search::run(
        conn,
        &sql_filter::GROUPS,
        "g.seq, g.id, g.resource, g.created, g.last_modified, g.version",
        integration_id,
        q,
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        },
    )?;
    let mut items = page.items;
    let mut next = page.next;
    if with_members {
        // Bound one response's memory: stop before the group whose members
        // would take the page past `LIST_MEMBERS_MAX` (never below one group).
        // The page is shorter than asked (itemsPerPage says so), and a cursor
        // resumes right after the last group returned.
        let mut budget = LIST_MEMBERS_MAX;
        let mut keep = items.len();
        for (k, item) in items.iter().enumerate() {
            let n = member_count(conn, item.0)?;
            if k > 0 && n > budget {
                keep = k;
                break;
            }
            budget = budget.saturating_sub(n);
        }
        if keep < items.len() {
            items.truncate(keep);
            if matches!(q.window, search::Window::After { .. }) {
                next = page.positions.get(keep - 1).cloned();
            }
        }
    }
    let mut groups = Vec::with_capacity(items.len());
    for (seq, id, json, created, last_modified, version) in items {
        groups.push(StoredGroup {
            id,
            resource: serde_json::from_str(&json)?,
            created,
            last_modified,
            version,
            members: if with_members {
                Some(member_list(conn, seq)?)
            } else {
                None
            },
        });
    }
    let positions = page.positions.into_iter().take(groups.len()).collect();
    Ok(search::Page {
        total: page.total,
        items: groups,
        next,
        positions,
    })
}

/// A user's groups, direct and through nested groups, for `User.groups`.
pub fn groups_of_user(
    conn: &Connection,
    integration_id: &str,
    user_id: &str,
) -> Result<Vec<(String, String, &'static str)>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE up(seq, direct) AS (
             SELECT m.group_seq, 1 FROM membership m
             WHERE m.member_user_seq = (SELECT seq FROM scim_user WHERE integration_id = ?1 AND id = ?2)
             UNION
             SELECT m.group_seq, 0 FROM up CROSS JOIN membership m ON m.member_group_seq = up.seq
         )
         SELECT g.id, g.display_name, max(up.direct) FROM up CROSS JOIN scim_group g ON g.seq = up.seq
         GROUP BY g.seq ORDER BY g.display_name, g.id",
    )?;
    let rows = stmt.query_map(params![integration_id, user_id], |r| {
        let direct: i64 = r.get(2)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            if direct == 1 { "direct" } else { "indirect" },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::search::{Query, Window};

    /// Three groups of 6 000 members each, inserted directly.
    fn three_big_groups() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        c.execute_batch(
            "INSERT INTO integration(id, name, created) VALUES ('int_a', 'A', '2026-01-01T00:00:00.000Z');
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
             INSERT INTO scim_user(integration_id, id, user_name, user_name_fold, created, last_modified, resource)
             SELECT 'int_a', 'u' || i, 'u' || i, 'u' || i, 't', 't', '{}' FROM n;
             INSERT INTO scim_group(integration_id, id, display_name, created, last_modified, resource)
             VALUES ('int_a', 'g1', 'G1', 't', 't', '{}'), ('int_a', 'g2', 'G2', 't', 't', '{}'),
                    ('int_a', 'g3', 'G3', 't', 't', '{}');
             INSERT INTO membership(group_seq, member_user_seq) SELECT g.seq, u.seq FROM scim_group g, scim_user u;",
        )
        .unwrap();
        c
    }

    fn query(window: Window) -> Query<'static> {
        Query {
            filter: None,
            sort_by: None,
            descending: false,
            window,
        }
    }

    #[test]
    fn a_page_with_members_stops_before_the_member_bound() {
        let c = three_big_groups();
        let page = search(
            &c,
            "int_a",
            &query(Window::Offset {
                offset: 0,
                limit: 10,
            }),
            true,
        )
        .unwrap();
        // 6 000 + 6 000 would pass 10 000: one group per page.
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.total, 3);
        let members: usize = page
            .items
            .iter()
            .map(|g| g.members.as_ref().map_or(0, Vec::len))
            .sum();
        assert!(members <= LIST_MEMBERS_MAX);
    }

    #[test]
    fn a_cursor_resumes_after_the_last_group_returned() {
        let c = three_big_groups();
        let mut after = None;
        let mut seen = Vec::new();
        for _ in 0..5 {
            let page = search(
                &c,
                "int_a",
                &query(Window::After {
                    after: after.clone(),
                    limit: 10,
                }),
                true,
            )
            .unwrap();
            seen.extend(page.items.iter().map(|g| g.id.clone()));
            match page.next {
                Some(p) => after = Some(p),
                None => break,
            }
        }
        assert_eq!(seen, ["g1", "g2", "g3"]);
    }

    #[test]
    fn without_members_the_page_is_not_cut() {
        let c = three_big_groups();
        let page = search(
            &c,
            "int_a",
            &query(Window::Offset {
                offset: 0,
                limit: 10,
            }),
            false,
        )
        .unwrap();
        assert_eq!(page.items.len(), 3);
    }
}

#[cfg(test)]
mod nesting_tests {
    use super::*;

    /// Groups 1..=n, each the only member of the one before it.
    fn chain(n: i64) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        c.execute_batch(
            "INSERT INTO integration(id, name, created) VALUES ('int_a', 'A', '2026-01-01T00:00:00.000Z');",
        )
        .unwrap();
        for i in 1..=n {
            c.execute(
                "INSERT INTO scim_group(seq, integration_id, id, display_name, created, last_modified, resource)
                 VALUES (?1, 'int_a', 'g' || ?1, 'G', 't', 't', '{}')",
                [i],
            )
            .unwrap();
        }
        for i in 1..n {
            c.execute(
                "INSERT INTO membership(group_seq, member_group_seq) VALUES (?1, ?2)",
                [i, i + 1],
            )
            .unwrap();
        }
        c
    }

    #[test]
    fn a_cycle_through_a_chain_is_found() {
        let c = chain(20);
        // 1 reaches 20 downward: making 1 a member of 20 closes a cycle.
        assert!(creates_cycle(&c, 20, 1).unwrap());
        // 20 is a leaf: making it a member of 1 again is no cycle.
        assert!(!creates_cycle(&c, 1, 20).unwrap());
    }

    #[test]
    fn a_member_bringing_too_many_nested_groups_is_refused() {
        let c = chain(NESTED_GROUPS_MAX as i64 + 5);
        c.execute(
            "INSERT INTO scim_group(seq, integration_id, id, display_name, created, last_modified, resource)
             VALUES (1000, 'int_a', 'top', 'Top', 't', 't', '{}')",
            [],
        )
        .unwrap();
        let e = creates_cycle(&c, 1000, 1).unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
        // A member with a short chain below it is fine.
        let last = NESTED_GROUPS_MAX as i64 + 5;
        assert!(!creates_cycle(&c, 1000, last - 3).unwrap());
    }

    #[test]
    fn users_under_a_group_include_those_of_nested_groups_once() {
        let c = chain(3);
        c.execute_batch(
            "INSERT INTO scim_user(seq, integration_id, id, user_name, user_name_fold, created, last_modified, resource)
             VALUES (1, 'int_a', 'u1', 'u1', 'u1', 't', 't', '{}'), (2, 'int_a', 'u2', 'u2', 'u2', 't', 't', '{}');
             INSERT INTO membership(group_seq, member_user_seq) VALUES (1, 1), (3, 2), (2, 2);",
        )
        .unwrap();
        assert_eq!(entitlement::users_under_group(&c, 1).unwrap(), vec![1, 2]);
        assert_eq!(entitlement::users_under_group(&c, 3).unwrap(), vec![2]);
    }
}
