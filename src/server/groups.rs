//! Groups as the shared handlers (`server::resources`) serve them: the
//! stored group, with its members when the response shows them, rendered
//! with `meta` and `$ref`s.

use super::ctx::Ctx;
use super::resources::Served;
use super::router::Kind;
use crate::scim::etag::etag;
use crate::scim::render::{full_resource, insert_before_meta, Meta};
use crate::scim::schema::{ResourceType, GROUP_TYPE};
use crate::store::groups::StoredGroup;
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

impl Served for StoredGroup {
    const RT: &'static ResourceType = &GROUP_TYPE;
    const COMPUTED: &'static str = "members";

    fn render(&self, ctx: &Ctx) -> Value {
        render(ctx, self)
    }
}
