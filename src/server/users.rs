//! Users as the shared handlers (`server::resources`) serve them: the
//! domain's view (the stored user plus its computed `groups`, when shown)
//! rendered with `meta` and `$ref`s.

use super::ctx::Ctx;
use super::resources::Served;
use super::router::Kind;
pub use crate::domain::users::UserView;
use crate::scim::etag::etag;
use crate::scim::render::{full_resource, insert_before_meta, Meta};
use crate::scim::schema::{ResourceType, USER_TYPE};
use serde_json::{json, Value};

pub(super) fn render(ctx: &Ctx, shown: &UserView) -> Value {
    let user = &shown.user;
    let version = etag(user.version);
    let location = ctx.location(Kind::Users, &user.id);
    let mut full = full_resource(
        &user.resource,
        &Meta {
            resource_type: "User",
            id: &user.id,
            created: &user.created,
            last_modified: &user.last_modified,
            version: &version,
            location: &location,
        },
    );
    if let Some(list) = shown.groups.as_ref().filter(|l| !l.is_empty()) {
        let groups: Vec<Value> = list
            .iter()
            .map(|(id, name, kind)| {
                json!({
                    "value": id,
                    "$ref": ctx.location(Kind::Groups, id),
                    "display": name,
                    "type": kind,
                })
            })
            .collect();
        insert_before_meta(&mut full, "groups", Value::Array(groups));
    }
    full
}

impl Served for UserView {
    const RT: &'static ResourceType = &USER_TYPE;
    const COMPUTED: &'static str = "groups";

    fn render(&self, ctx: &Ctx) -> Value {
        render(ctx, self)
    }
}
