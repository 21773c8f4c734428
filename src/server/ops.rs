//! The resource changes as plain functions of a write connection and parsed
//! JSON: validate with the pure protocol layer, then change the store. The
//! single-resource handlers and Bulk both call these, inside a writer job, so
//! a change means the same thing whichever way it arrives.

use crate::scim::etag::check_if_match;
use crate::scim::intake;
use crate::scim::patch;
use crate::scim::patch::MemberOp;
use crate::scim::resource;
use crate::scim::schema::ResourceType;
use crate::scim::schema::{GROUP_TYPE, USER_TYPE};
use crate::store::audit::Actor;
use crate::store::groups::{self, StoredGroup};
use crate::store::users::{self, StoredUser};
use crate::store::Result;
use rusqlite::Connection;
use serde_json::Value;

/// Reads a POST/PUT body through intake (schemas check, body dialects) and
/// normalises it; the dialects seen are logged like PATCH's.
fn normalize(rt: &ResourceType, body: &Value, integration: &str, actor: &Actor) -> Result<Value> {
    let mut read = intake::read(rt, body)?;
    for dialect in &read.dialects {
        tracing::debug!(request_id = ?actor.request_id, %integration, dialect, "accepted an IdP body dialect");
    }
    if std::ptr::eq(rt, &USER_TYPE) {
        default_active(&mut read.body);
    }
    Ok(resource::normalize(rt, &read.body)?)
}

/// A user created or replaced without `active` is active (the store has
/// always counted it so) and says so: IdPs read a missing `active` as
/// unknown. Written into the stored form, so a later PATCH `remove` of
/// `active` still removes it.
fn default_active(body: &mut Value) {
    if let Value::Object(obj) = body {
        let given = obj
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("active") && !v.is_null());
        if !given {
            obj.retain(|k, _| !k.eq_ignore_ascii_case("active"));
            obj.insert("active".into(), Value::Bool(true));
        }
    }
}

pub fn create_user(
    c: &Connection,
    integration: &str,
    body: &Value,
    actor: &Actor,
) -> Result<StoredUser> {
    let resource = normalize(&USER_TYPE, body, integration, actor)?;
    users::insert(
        c,
        integration,
        &crate::secret::new_resource_id(),
        &resource,
        actor,
    )
}

pub fn replace_user(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<StoredUser> {
    let resource = normalize(&USER_TYPE, body, integration, actor)?;
    let current = users::get(c, integration, id)?.ok_or_else(|| users::not_found(id))?;
    resource::check_immutable(&USER_TYPE, &current.resource, &resource)?;
    users::replace(c, integration, id, &resource, if_match, actor)
}

fn log_quirks(patched: &patch::Patched, integration: &str, actor: &Actor) {
    for quirk in &patched.quirks {
        tracing::debug!(request_id = ?actor.request_id, %integration, quirk, "accepted an IdP PATCH dialect");
    }
}

pub fn patch_user(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<StoredUser> {
    let current = users::get(c, integration, id)?.ok_or_else(|| users::not_found(id))?;
    check_if_match(if_match, current.version)?;
    let patched = patch::apply(&USER_TYPE, &current.resource, body)?;
    log_quirks(&patched, integration, actor);
    resource::check_immutable(&USER_TYPE, &current.resource, &patched.resource)?;
    users::replace(c, integration, id, &patched.resource, None, actor)
}

pub fn create_group(
    c: &Connection,
    integration: &str,
    body: &Value,
    actor: &Actor,
) -> Result<StoredGroup> {
    let mut resource = normalize(&GROUP_TYPE, body, integration, actor)?;
    let members = groups::take_members(&mut resource);
    let id = crate::secret::new_resource_id();
    groups::insert(c, integration, &id, &resource, &members, actor)
}

pub fn replace_group(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<StoredGroup> {
    let mut resource = normalize(&GROUP_TYPE, body, integration, actor)?;
    let members = groups::take_members(&mut resource);
    let ops = [MemberOp::ReplaceAll(members)];
    groups::update(c, integration, id, &resource, &ops, if_match, actor)
}

pub fn patch_group(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<StoredGroup> {
    let current = groups::get(c, integration, id, false)?.ok_or_else(|| groups::not_found(id))?;
    let patched = patch::apply(&GROUP_TYPE, &current.resource, body)?;
    log_quirks(&patched, integration, actor);
    groups::update(
        c,
        integration,
        id,
        &patched.resource,
        &patched.member_ops,
        if_match,
        actor,
    )
}
