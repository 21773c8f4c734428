//! Groups as the shared handlers (`server::resources`) serve them. Members
//! travel in the JSON but live in the membership table: a body's `members`
//! become membership rows, PATCH member operations become single-row inserts
//! and deletes, and members are read only when the response will show them.

use super::ctx::Ctx;
use super::ops;
use super::resources::Served;
use super::router::Kind;
use crate::scim::etag::etag;
use crate::scim::render::{full_resource, insert_before_meta, Meta};
use crate::scim::schema::{ResourceType, GROUP_TYPE};
use crate::store::audit::Actor;
use crate::store::groups::{self, StoredGroup};
use crate::store::{self, StoreError};
use rusqlite::Connection;
use serde_json::Value;

pub(super) fn render(ctx: &Ctx, group: &StoredGroup) -> Value {
    let version = etag(group.version);
    let location = ctx.location(Kind::Groups, &group.id);
    let mut full = full_resource(
        &group.resource,
        &Meta {
            resource_type: "Group",
            id: &group.id,
            created: &group.created,
            last_modified: &group.last_modified,
            version: &version,
            location: &location,
        },
    );
    if let Some(members) = group.members.as_ref().filter(|m| !m.is_empty()) {
        let list = members.iter().map(|m| m.to_json(&ctx.base_url)).collect();
        insert_before_meta(&mut full, "members", Value::Array(list));
    }
    full
}

/// Re-reads a group after a change when the response shows members.
fn reread(
    c: &rusqlite::Connection,
    integration: &str,
    group: StoredGroup,
    want_members: bool,
) -> crate::store::Result<StoredGroup> {
    if !want_members {
        return Ok(group);
    }
    Ok(groups::get(c, integration, &group.id, true)?.unwrap_or(group))
}

impl Served for StoredGroup {
    const RT: &'static ResourceType = &GROUP_TYPE;
    const KIND: Kind = Kind::Groups;
    const COMPUTED: &'static str = "members";

    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn render(&self, ctx: &Ctx) -> Value {
        render(ctx, self)
    }
    fn not_found(id: &str) -> StoreError {
        groups::not_found(id)
    }
    fn load(
        c: &Connection,
        integration: &str,
        id: &str,
        computed: bool,
    ) -> store::Result<Option<Self>> {
        groups::get(c, integration, id, computed)
    }
    fn create(
        c: &Connection,
        integration: &str,
        body: &Value,
        actor: &Actor,
        computed: bool,
    ) -> store::Result<Self> {
        let group = ops::create_group(c, integration, body, actor)?;
        reread(c, integration, group, computed)
    }
    fn replace(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> store::Result<Self> {
        let group = ops::replace_group(c, integration, id, body, if_match, actor)?;
        reread(c, integration, group, computed)
    }
    fn patch(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> store::Result<Self> {
        let group = ops::patch_group(c, integration, id, body, if_match, actor)?;
        reread(c, integration, group, computed)
    }
    fn delete(
        c: &Connection,
        integration: &str,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> store::Result<()> {
        groups::delete(c, integration, id, if_match, actor)
    }
}
