//! Users: the typed operations (create, replace, patch, delete) and the view
//! the server renders, a stored user with its computed `groups` (direct and
//! through nested groups), read only when the response will show them.

use super::change::{Change, Outcome, Subject};
use super::resources::{log_quirks, normalize, Resource};
use super::Kind;
use crate::scim::etag::check_if_match;
use crate::scim::patch;
use crate::scim::resource;
use crate::scim::schema::USER_TYPE;
use crate::store::audit::Actor;
use crate::store::users::{self, StoredUser};
use crate::store::{groups, Result, StoreError};
use rusqlite::Connection;
use serde_json::Value;

/// A user with its computed `groups` (id, displayName, `direct` or
/// `indirect`), when the response shows them.
pub struct UserView {
    pub user: StoredUser,
    pub groups: Option<Vec<(String, String, &'static str)>>,
}

/// Adds the user's groups when `want`.
pub(super) fn with_groups(
    c: &Connection,
    integration: &str,
    user: StoredUser,
    want: bool,
) -> Result<UserView> {
    let groups = if want {
        Some(groups::groups_of_user(c, integration, &user.id)?)
    } else {
        None
    };
    Ok(UserView { user, groups })
}

fn change(integration: &str, id: &str, old: Option<Value>, new: Option<Value>) -> Change {
    Change::new(integration, Subject::User, id, old, new)
}

fn current(c: &Connection, integration: &str, id: &str) -> Result<StoredUser> {
    users::get(c, integration, id)?.ok_or_else(|| users::not_found(id))
}

pub fn create(
    c: &Connection,
    integration: &str,
    body: &Value,
    actor: &Actor,
) -> Result<Outcome<StoredUser>> {
    let resource = normalize(&USER_TYPE, body, integration, actor)?;
    let id = crate::secret::new_resource_id();
    let user = users::insert(c, integration, &id, &resource, actor)?;
    Ok(Outcome {
        change: change(integration, &id, None, Some(user.resource.clone())),
        value: user,
    })
}

pub fn replace(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Outcome<StoredUser>> {
    let resource = normalize(&USER_TYPE, body, integration, actor)?;
    let old = current(c, integration, id)?;
    resource::check_immutable(&USER_TYPE, &old.resource, &resource)?;
    let user = users::replace(c, integration, id, &resource, if_match, actor)?;
    Ok(Outcome {
        change: change(
            integration,
            id,
            Some(old.resource),
            Some(user.resource.clone()),
        ),
        value: user,
    })
}

pub fn patch(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Outcome<StoredUser>> {
    let old = current(c, integration, id)?;
    check_if_match(if_match, old.version)?;
    let patched = patch::apply(&USER_TYPE, &old.resource, body)?;
    log_quirks(&patched, integration, actor);
    resource::check_immutable(&USER_TYPE, &old.resource, &patched.resource)?;
    let user = users::replace(c, integration, id, &patched.resource, None, actor)?;
    Ok(Outcome {
        change: change(
            integration,
            id,
            Some(old.resource),
            Some(user.resource.clone()),
        ),
        value: user,
    })
}

/// Deletes or deprovisions, as the integration's settings say; either way
/// the SCIM view is gone.
pub fn delete(
    c: &Connection,
    integration: &str,
    id: &str,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Change> {
    let old = current(c, integration, id)?;
    users::delete(c, integration, id, if_match, actor)?;
    Ok(change(integration, id, Some(old.resource), None))
}

impl Resource for UserView {
    const KIND: Kind = Kind::Users;

    fn id(&self) -> &str {
        &self.user.id
    }
    fn version(&self) -> i64 {
        self.user.version
    }
    fn not_found(id: &str) -> StoreError {
        users::not_found(id)
    }
    fn load(c: &Connection, integration: &str, id: &str, computed: bool) -> Result<Option<Self>> {
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
    ) -> Result<Outcome<Self>> {
        // A new user belongs to no group yet.
        let done = create(c, integration, body, actor)?;
        Ok(Outcome {
            value: UserView {
                user: done.value,
                groups: None,
            },
            change: done.change,
        })
    }
    fn replace(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> Result<Outcome<Self>> {
        let done = replace(c, integration, id, body, if_match, actor)?;
        Ok(Outcome {
            value: with_groups(c, integration, done.value, computed)?,
            change: done.change,
        })
    }
    fn patch(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> Result<Outcome<Self>> {
        let done = patch(c, integration, id, body, if_match, actor)?;
        Ok(Outcome {
            value: with_groups(c, integration, done.value, computed)?,
            change: done.change,
        })
    }
    fn delete(
        c: &Connection,
        integration: &str,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Change> {
        delete(c, integration, id, if_match, actor)
    }
}
