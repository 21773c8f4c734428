//! Users as the shared handlers (`server::resources`) serve them: the stored
//! user plus its computed `groups` (direct and through nested groups), read
//! only when the response will show them.

use super::ctx::Ctx;
use super::ops;
use super::resources::Served;
use super::router::Kind;
use crate::scim::etag::etag;
use crate::scim::render::{full_resource, insert_before_meta, Meta};
use crate::scim::schema::{ResourceType, USER_TYPE};
use crate::store::audit::Actor;
use crate::store::groups;
use crate::store::users::{self, StoredUser};
use crate::store::{self, StoreError};
use rusqlite::Connection;
use serde_json::{json, Value};

/// A user with its computed `groups`, when the response shows them.
pub struct UserView {
    user: StoredUser,
    groups: Option<Vec<(String, String, &'static str)>>,
}

pub(super) fn with_groups(
    conn: &Connection,
    integration_id: &str,
    user: StoredUser,
    want: bool,
) -> crate::store::Result<UserView> {
    let groups = if want {
        Some(groups::groups_of_user(conn, integration_id, &user.id)?)
    } else {
        None
    };
    Ok(UserView { user, groups })
}

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
    const KIND: Kind = Kind::Users;
    const COMPUTED: &'static str = "groups";

    fn id(&self) -> &str {
        &self.user.id
    }
    fn version(&self) -> i64 {
        self.user.version
    }
    fn render(&self, ctx: &Ctx) -> Value {
        render(ctx, self)
    }
    fn not_found(id: &str) -> StoreError {
        users::not_found(id)
    }
    fn load(
        c: &Connection,
        integration: &str,
        id: &str,
        computed: bool,
    ) -> store::Result<Option<Self>> {
        users::get(c, integration, id)?
            .map(|u| with_groups(c, integration, u, computed))
            .transpose()
    }
    fn create(
        c: &Connection,
        integration: &str,
        body: &Value,
        actor: &Actor,
        _: bool,
    ) -> store::Result<Self> {
        // A new user belongs to no group yet.
        let user = ops::create_user(c, integration, body, actor)?;
        Ok(UserView { user, groups: None })
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
        let user = ops::replace_user(c, integration, id, body, if_match, actor)?;
        with_groups(c, integration, user, computed)
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
        let user = ops::patch_user(c, integration, id, body, if_match, actor)?;
        with_groups(c, integration, user, computed)
    }
    fn delete(
        c: &Connection,
        integration: &str,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> store::Result<()> {
        users::delete(c, integration, id, if_match, actor)
    }
}
