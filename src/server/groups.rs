//! Groups as the shared handlers (`server::resources`) serve them: the
//! stored group, with its members when the response shows them, rendered
//! with `meta` and `$ref`s.
//!
//! A group of 100 000 members would be a `serde_json::Value` tree of tens of
//! MB before it became bytes; when the projection shows the members whole,
//! they are written straight into the response bytes instead
//! (`write_with_members`), the same bytes the tree would have given.

use super::ctx::Ctx;
use super::resources::Served;
use super::router::Kind;
use crate::scim::etag::etag;
use crate::scim::projection::Projection;
use crate::scim::render::{full_resource, insert_before_meta, Meta};
use crate::scim::schema::{ResourceType, GROUP_TYPE};
use crate::store::groups::{Member, StoredGroup};
use serde_json::Value;

pub(super) fn render(ctx: &Ctx, group: &StoredGroup) -> Value {
    let mut full = render_without_members(ctx, group);
    if let Some(members) = group.members.as_ref().filter(|m| !m.is_empty()) {
        let list = members.iter().map(|m| m.to_json(&ctx.base_url)).collect();
        insert_before_meta(&mut full, "members", Value::Array(list));
    }
    full
}

fn render_without_members(ctx: &Ctx, group: &StoredGroup) -> Value {
    let version = etag(group.version);
    let location = ctx.location(Kind::Groups, &group.id);
    full_resource(
        &group.resource,
        &Meta {
            resource_type: "Group",
            id: &group.id,
            created: &group.created,
            last_modified: &group.last_modified,
            version: &version,
            location: &location,
        },
    )
}

/// The JSON of `projected` (a group rendered and projected without its
/// members) with `members` written in where `render` puts them: before
/// `meta`, or last when `meta` is not shown. Byte for byte what serialising
/// the rendered tree gives, without building the members' tree.
fn write_with_members(projected: &Value, members: &[Member], base_url: &str) -> Vec<u8> {
    let Value::Object(fields) = projected else {
        return serde_json::to_vec(projected).unwrap_or_default();
    };
    // About 120 bytes a member: a UUID twice, a URL and the type.
    let mut out = Vec::with_capacity(1024 + members.len() * (base_url.len() + 120));
    out.push(b'{');
    let mut pending = true;
    let mut first = true;
    let mut comma = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    for (key, value) in fields {
        if key == "meta" && pending {
            comma(&mut out);
            write_members(&mut out, members, base_url);
            pending = false;
        }
        comma(&mut out);
        write_json(&mut out, key);
        out.push(b':');
        write_json(&mut out, value);
    }
    if pending {
        comma(&mut out);
        write_members(&mut out, members, base_url);
    }
    out.push(b'}');
    out
}

/// `"members":[{"value":…,"$ref":…,"type":…},…]`, as `Member::to_json`
/// renders each one.
fn write_members(out: &mut Vec<u8>, members: &[Member], base_url: &str) {
    out.extend_from_slice(b"\"members\":[");
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let collection = if m.kind == "Group" { "Groups" } else { "Users" };
        out.extend_from_slice(b"{\"value\":");
        write_json(out, &m.id);
        out.extend_from_slice(b",\"$ref\":");
        write_json(out, &format!("{base_url}/{collection}/{}", m.id));
        out.extend_from_slice(b",\"type\":");
        write_json(out, m.kind);
        out.push(b'}');
    }
    out.push(b']');
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec fails only for values that cannot be JSON (a map
    // with non-string keys); strings and `Value`s always can.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The response body of one group when `projection` shows its members
/// whole, written without a tree of them; None otherwise (the caller renders
/// and projects the usual way).
pub(super) fn body_with_members(
    ctx: &Ctx,
    group: &StoredGroup,
    projection: &Projection,
) -> Option<Vec<u8>> {
    let members = group.members.as_ref().filter(|m| !m.is_empty())?;
    if !projection.keeps_whole(&GROUP_TYPE, "members") {
        return None;
    }
    let projected = projection.apply(&GROUP_TYPE, render_without_members(ctx, group));
    Some(write_with_members(&projected, members, &ctx.base_url))
}

impl Served for StoredGroup {
    const RT: &'static ResourceType = &GROUP_TYPE;
    const COMPUTED: &'static str = "members";

    fn render(&self, ctx: &Ctx) -> Value {
        render(ctx, self)
    }

    fn body(&self, ctx: &Ctx, projection: &Projection) -> Option<Vec<u8>> {
        body_with_members(ctx, self, projection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn members() -> Vec<Member> {
        vec![
            Member {
                id: "u1".into(),
                kind: "User",
            },
            Member {
                id: "g\"2".into(),
                kind: "Group",
            },
        ]
    }

    /// What `render` + `Projection::apply` + `serde_json::to_vec` give.
    fn through_the_tree(mut projected: Value, members: &[Member], base: &str) -> Vec<u8> {
        let list = members.iter().map(|m| m.to_json(base)).collect();
        insert_before_meta(&mut projected, "members", Value::Array(list));
        serde_json::to_vec(&projected).unwrap()
    }

    #[test]
    fn members_written_straight_to_bytes_equal_the_rendered_tree() {
        let base = "https://h/scim/int_a";
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g1",
            "displayName": "Ops \u{e9}\"quoted\"",
            "meta": {"resourceType": "Group", "location": "x"},
        });
        assert_eq!(
            String::from_utf8(write_with_members(&group, &members(), base)).unwrap(),
            String::from_utf8(through_the_tree(group.clone(), &members(), base)).unwrap()
        );
    }

    #[test]
    fn without_meta_the_members_come_last() {
        let base = "https://h/scim/int_a";
        let group = json!({"schemas": [], "id": "g1", "displayName": "Ops"});
        assert_eq!(
            write_with_members(&group, &members(), base),
            through_the_tree(group.clone(), &members(), base)
        );
    }
}
